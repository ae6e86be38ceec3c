"""The access log's writer: each view waits for its own row; rows that
arrive together are stored together."""

from __future__ import annotations

import asyncio

import pytest

from models import access_log, sql
from models.access import utcnow
from models.entities import AccessLog
from tests.factories import (
    break_access_log_writes,
    make_person,
    make_school,
    make_student,
)


@pytest.fixture
async def people(database):
    school = await make_school()
    return await make_person(school), await make_student(school)


@pytest.fixture
def log_statements(monkeypatch) -> list[int]:
    """Count the statements that write the log, with the rows each carried."""
    counted: list[int] = []

    def counting(run, rows_of):
        async def wrapper(statement, *params):
            if "INSERT INTO access_log" in statement:
                counted.append(rows_of(params))
            return await run(statement, *params)

        return wrapper

    def rows_in_execute(params) -> int:
        # One row's values, or one list a column (PostgreSQL's unnest).
        return len(params[0]) if isinstance(params[0], list) else 1

    monkeypatch.setattr(sql, "execute", counting(sql.execute, rows_in_execute))
    monkeypatch.setattr(
        sql, "execute_many", counting(sql.execute_many, lambda p: len(p[0]))
    )
    return counted


def row(person, student, detail: str = "") -> access_log.Row:
    return access_log.log_row(
        utcnow(), person.id, student.id, "results", "view", "guardian", detail
    )


async def test_a_write_returns_once_its_row_is_stored(people):
    person, student = people

    await access_log.write(row(person, student, "one"))

    stored = await AccessLog.all().values_list("person_id", "student_id", "detail")
    assert stored == [(person.id, student.id, "one")]


async def test_views_that_arrive_together_are_stored_in_one_statement(
    people, log_statements
):
    person, student = people

    await asyncio.gather(
        *(access_log.write(row(person, student, f"view {n}")) for n in range(10))
    )

    assert log_statements == [10]
    details = await AccessLog.all().order_by("id").values_list("detail", flat=True)
    assert details == [f"view {n}" for n in range(10)]


async def test_rows_that_arrive_while_every_statement_runs_wait_for_the_next(
    people, log_statements, monkeypatch
):
    person, student = people
    release = asyncio.Event()
    store = access_log._store
    started: list[int] = []

    async def held(rows):
        started.append(len(rows))
        await release.wait()
        await store(rows)

    monkeypatch.setattr(access_log, "_store", held)
    monkeypatch.setattr(access_log.LogWriter, "statements", 2)

    async def arrive(count: int, name: str) -> list[asyncio.Future]:
        views = [
            asyncio.ensure_future(access_log.write(row(person, student, f"{name}{n}")))
            for n in range(count)
        ]
        await asyncio.sleep(0.01)  # their statement, if any, is running now
        return views

    views = await arrive(1, "a") + await arrive(3, "b") + await arrive(2, "c")

    assert not any(view.done() for view in views)
    assert started == [1, 3]  # the third group waits for a statement to end
    release.set()
    await asyncio.gather(*views)
    assert started == [1, 3, 2]
    assert sorted(log_statements) == [1, 2, 3]
    assert await AccessLog.all().count() == 6


async def test_a_row_that_cannot_be_stored_fails_alone(people):
    person, student = people
    school = await make_school("OTHER")
    gone = await make_student(school)
    gone_id = gone.id
    await gone.delete()
    bad = access_log.log_row(utcnow(), person.id, gone_id, "results", "view", "x")

    results = await asyncio.gather(
        access_log.write(row(person, student, "before")),
        access_log.write(bad),
        access_log.write(row(person, student, "after")),
        return_exceptions=True,
    )

    assert results[0] is None and results[2] is None
    assert isinstance(results[1], Exception)
    details = await AccessLog.all().order_by("id").values_list("detail", flat=True)
    assert details == ["before", "after"]


async def test_when_the_log_cannot_be_written_every_waiting_view_fails(
    people, monkeypatch
):
    person, student = people
    break_access_log_writes(monkeypatch)

    results = await asyncio.gather(
        *(access_log.write(row(person, student)) for _ in range(3)),
        return_exceptions=True,
    )

    assert all(isinstance(result, RuntimeError) for result in results)
    monkeypatch.undo()
    assert await AccessLog.all().count() == 0


async def test_the_detail_is_cut_to_the_column(people):
    person, student = people

    await access_log.write(row(person, student, "x" * 500))

    detail = await AccessLog.first().values_list("detail", flat=True)
    assert detail == "x" * access_log.DETAIL_MAX
