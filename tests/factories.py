"""Factories that create schools, people, students and families for tests."""

from __future__ import annotations

import itertools
from datetime import date

from models.entities import (
    GUARDIAN,
    SECTIONS,
    Approval,
    Person,
    Relation,
    School,
    SchoolClass,
    Student,
)

_seq = itertools.count(1)


async def make_school(code: str = "TEST", **fields) -> School:
    fields.setdefault("name", f"School {code}")
    fields.setdefault("sections", list(SECTIONS))
    return await School.create(code=code, **fields)


async def make_person(school: School, **fields) -> Person:
    n = next(_seq)
    fields.setdefault("email", f"person{n}@example.test")
    fields.setdefault("given_name", f"Given{n}")
    fields.setdefault("family_name", f"Family{n}")
    return await Person.create(school=school, **fields)


async def make_student(school: School, **fields) -> Student:
    n = next(_seq)
    fields.setdefault("given_name", f"Kid{n}")
    fields.setdefault("family_name", f"Family{n}")
    fields.setdefault("birth_date", date(2014, 3, 1))
    return await Student.create(school=school, **fields)


async def link(person: Person, student: Student, kind: str = GUARDIAN, **fields):
    return await Relation.create(person=person, student=student, kind=kind, **fields)


async def approve(approver: Person, viewer: Person, student: Student, section: str):
    return await Approval.create(
        approver=approver, viewer=viewer, student=student, section=section
    )


async def make_class(school: School, mentor: Person | None = None, **fields):
    n = next(_seq)
    fields.setdefault("name", f"{n}A")
    fields.setdefault("is_homeroom", True)
    return await SchoolClass.create(school=school, mentor=mentor, **fields)


def break_access_log_writes(monkeypatch) -> None:
    """Make every statement that writes the access log fail at the database
    client, as a connection lost at that moment would. Statements that write
    other tables still run, so a transaction has something to roll back."""
    from models import sql

    def failing(run):
        async def wrapper(statement, *params):
            if "INSERT INTO access_log" in statement:
                raise RuntimeError("connection lost while writing the log")
            return await run(statement, *params)

        return wrapper

    monkeypatch.setattr(sql, "fetch", failing(sql.fetch))
    monkeypatch.setattr(sql, "execute", failing(sql.execute))
    monkeypatch.setattr(sql, "execute_many", failing(sql.execute_many))
