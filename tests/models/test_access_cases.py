"""The worked cases of shared/cases, checked against the real rule code."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from models.cases import run_case_table
from models.entities import School
from tests.conftest import shared_dir
from tests.factories import make_school

REPO_ROOT = Path(__file__).resolve().parents[2]
HEADER = "id,born,now_utc,guardians,viewer,section,approvals,visible,why\n"


SHARED_TABLE = shared_dir() / "cases" / "access-rules.csv"


def _ids(path: Path) -> list[str]:
    with path.open(encoding="utf-8", newline="") as handle:
        return [row["id"] for row in csv.DictReader(handle)]


def _whys(path: Path) -> list[str]:
    with path.open(encoding="utf-8", newline="") as handle:
        return [row["why"] for row in csv.DictReader(handle)]


def _verdicts(lines: list[str]) -> list[str]:
    """Drop the row's "why", which a passing line repeats in brackets."""
    return [
        line.split(" (", 1)[0] if line.startswith("PASS") else line for line in lines
    ]


def _write_table(tmp_path: Path, rows: list[str]) -> Path:
    path = tmp_path / "cases.csv"
    path.write_text(HEADER + "\n".join(rows) + "\n", encoding="utf-8")
    return path


async def _run(path: Path) -> tuple[int, list[str]]:
    out = io.StringIO()
    code = await run_case_table(path, out)
    return code, out.getvalue().splitlines()


def _cli(path: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "INZAGE_DATA_DIR": str(tmp_path / "data")}
    env.pop("INZAGE_ENV", None)
    return subprocess.run(
        [sys.executable, "-m", "web.cli", "access-check", str(path)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


# ------------------------------------------------------------ shared table


async def test_shared_table_passes_every_row(database):
    ids = _ids(SHARED_TABLE)

    code, lines = await _run(SHARED_TABLE)

    whys = _whys(SHARED_TABLE)
    assert len(ids) == 16
    assert lines == [
        f"PASS {row_id} ({why})" for row_id, why in zip(ids, whys, strict=True)
    ] + ["16 passed, 0 failed"]
    assert code == 0


async def test_case_run_leaves_the_outer_database_working(database):
    await make_school("OUTER", name="Buitenschool")

    await _run(SHARED_TABLE)

    # The throw-away database is another context: the run's own database
    # still answers, in its own dialect, and holds none of the cases.
    assert await School.all().values_list("code", flat=True) == ["OUTER"]
    await make_school("AFTER")
    assert await School.filter(code="AFTER").count() == 1


# ------------------------------------------------------------ edge rows


EDGE_ROWS = [
    # Born on 29 February: 16 at local midnight of 29 February 2024 (CET).
    "E01,2008-02-29,2024-02-28T22:59:59Z,g1;g2,student,results,,no,15 at 23:59:59",
    "E02,2008-02-29,2024-02-28T23:00:00Z,g1;g2,student,results,,yes,16 at 00:00",
    "E03,2008-02-29,2024-02-28T22:59:59Z,g1;g2,g1,results,,yes,guardian until 16",
    "E04,2008-02-29,2024-02-28T23:00:00Z,g1;g2,g1,results,,no,student decides",
    # Turning 16 at local midnight in summer (CEST, UTC+2).
    "E05,2010-07-15,2026-07-14T21:59:59Z,g1,carer,care,g1>carer>care,yes,15",
    "E06,2010-07-15,2026-07-14T22:00:00Z,g1,carer,care,g1>carer>care,no,16",
    "E07,2010-07-15,2026-07-14T22:00:00Z,g1,carer,care,student>carer>care,yes,16",
    # No guardian on record.
    "E08,2014-03-01,2026-12-03T10:00:00Z,,carer,absence,,no,nobody can approve",
    "E09,2014-03-01,2026-12-03T10:00:00Z,,student,results,student>student>results,"
    "no,a student under 16 cannot approve",
    "E10,2009-01-15,2026-12-03T10:00:00Z,,student,care,,yes,16 sees all",
    "E11,2009-01-15,2026-12-03T10:00:00Z,,parent,tests,student>parent>tests,yes,ok",
    # No date of birth on record: staff only.
    "E12,,2026-12-03T10:00:00Z,g1,g1,results,,no,no date of birth",
]


async def test_edge_rows_pass(tmp_path):
    table = _write_table(tmp_path, EDGE_ROWS)

    code, lines = await _run(table)

    expected = [f"PASS E{n:02d}" for n in range(1, len(EDGE_ROWS) + 1)]
    assert _verdicts(lines) == expected + [f"{len(EDGE_ROWS)} passed, 0 failed"]
    assert code == 0


async def test_wrong_expectation_fails_and_says_why(tmp_path):
    table = _write_table(
        tmp_path,
        [
            "W01,2014-03-01,2026-12-03T10:00:00Z,g1;g2,carer,absence,"
            "g2>carer>absence,yes,wrong: g1 has not approved",
            "W02,2014-03-01,2026-12-03T10:00:00Z,g1;g2,g1,care,,yes,right",
        ],
    )

    code, lines = await _run(table)

    assert lines == [
        "FAIL W01: expected yes, got no (age 12 on 2026-12-03 in Europe/Amsterdam; "
        "viewer carer (carer); deciders g1, g2; absence approved for carer by g2)",
        "PASS W02 (right)",
        "1 passed, 1 failed",
    ]
    assert code == 1


ROW = "V,2014-03-01,2026-12-03T10:00:00Z,g1;g2,student,results,,no,x"


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        (
            "V,2014-03-01,2026-12-03T10:00:00Z,g1;g2,student,results,"
            "g3>student>results,no,x",
            "approver 'g3' is not among the guardians (g1;g2), student, parent "
            "or carer.",
        ),
        (
            "V,2014-03-01,2026-12-03T10:00:00Z,g1;g2,student,results,"
            "g1>teacher>results,no,x",
            "viewer 'teacher' is not among the guardians (g1;g2), student, "
            "parent or carer.",
        ),
        (
            "V,2014-03-01,2026-12-03T10:00:00Z,g1,g2,results,,no,x",
            "viewer 'g2' is not among the guardians (g1), student, parent or carer.",
        ),
        (
            "V,2014-03-01,2026-12-03T10:00:00Z,,g1,results,,no,x",
            "viewer 'g1' is not among the guardians (none), student, parent or carer.",
        ),
        (
            ROW.replace("results", "grades"),
            "section 'grades' is unknown; use one of personal, absence, results, "
            "tests, reports, meetings, care, notes, documents.",
        ),
        (
            ROW.replace("2014-03-01", "2014-02-30"),
            "born '2014-02-30' is not a date; write it as YYYY-MM-DD.",
        ),
        (
            ROW.replace("2026-12-03T10:00:00Z", "2026-12-03T10:00:00"),
            "now_utc '2026-12-03T10:00:00' is not a moment in UTC; write it as "
            "YYYY-MM-DDTHH:MM:SSZ.",
        ),
        (ROW.replace(",no,", ",maybe,"), "visible 'maybe' is not yes or no."),
        (
            "V,2014-03-01,2026-12-03T10:00:00Z,g1;g2,student",
            "missing columns: section, approvals, visible.",
        ),
        (
            ROW.replace(",,no,", ",g1>student>results;g1>student>results,no,"),
            "approvals 'g1>student>results;g1>student>results' lists an "
            "approval twice.",
        ),
        (
            ROW.replace(",,no,", ",g1-student-results,no,"),
            "approval 'g1-student-results' is not of the form approver>viewer>section.",
        ),
        (
            ROW.replace("g1;g2", "g1;mum"),
            "guardian 'mum' is not a guardian name; use g1, g2, ...",
        ),
        (
            ROW.replace("2014-03-01", "2027-01-01"),
            "born is later than now_utc.",
        ),
    ],
)
async def test_invalid_row_says_why(tmp_path, row, reason):
    table = _write_table(tmp_path, [row, ROW.replace("V,", "OK,", 1)])

    code, lines = await _run(table)

    assert _verdicts(lines) == [
        f"INVALID V: {reason}",
        "PASS OK",
        "1 passed, 0 failed, 1 invalid",
    ]
    assert code == 1


async def test_table_without_a_column_marks_every_row_invalid(tmp_path):
    table = tmp_path / "cases.csv"
    table.write_text(
        "id,born,now_utc,guardians,viewer,section,approvals\n"
        "N1,2014-03-01,2026-12-03T10:00:00Z,g1,g1,care,\n",
        encoding="utf-8",
    )

    code, lines = await _run(table)

    assert lines == [
        "INVALID N1: missing column: visible.",
        "0 passed, 0 failed, 1 invalid",
    ]
    assert code == 1


async def test_unreadable_or_empty_table_is_not_a_success(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text(HEADER, encoding="utf-8")

    missing_code, missing_lines = await _run(tmp_path / "absent.csv")
    empty_code, empty_lines = await _run(empty)

    assert missing_code == 2
    assert missing_lines[0].startswith("Cannot read the case table ")
    assert empty_lines[-1] == "0 passed, 0 failed"
    assert empty_code == 1


# ------------------------------------------------------------ command line


def test_cli_passes_the_shared_table(tmp_path):
    result = _cli(SHARED_TABLE, tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1] == "16 passed, 0 failed"
    assert result.stdout.count("PASS ") == 16


def test_cli_fails_a_row_with_the_wrong_expectation(tmp_path):
    table = _write_table(
        tmp_path,
        [
            "A02X,2014-03-01,2026-12-03T10:00:00Z,g1;g2,student,results,"
            "g1>student>results,yes,one approval is not enough"
        ],
    )

    result = _cli(table, tmp_path)

    assert result.returncode != 0
    assert "FAIL A02X: expected yes, got no (" in result.stdout
    assert result.stdout.splitlines()[-1] == "0 passed, 1 failed"


def test_cli_reports_an_invalid_row(tmp_path):
    table = _write_table(
        tmp_path,
        [
            "I01,2014-03-01,2026-12-03T10:00:00Z,g1;g2,student,results,"
            "g3>student>results,no,g3 is not a guardian of this row"
        ],
    )

    result = _cli(table, tmp_path)

    assert result.returncode != 0
    assert "INVALID I01: approver 'g3' is not among the guardians" in result.stdout
    assert result.stdout.splitlines()[-1] == "0 passed, 0 failed, 1 invalid"
