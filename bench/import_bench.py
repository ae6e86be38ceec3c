"""Time a large OneRoster import on PostgreSQL: first import and unchanged re-import.

Generates 2,000 students, 4,000 guardians and 100,000 results into a temporary
folder, imports the bundle twice into a fresh database and drops it after.

    .venv/bin/python bench/import_bench.py [postgres://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import asyncio
import csv
import sys
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.db import close_database, open_database  # noqa: E402
from models.oneroster import import_bundle  # noqa: E402
from models.settings import Settings  # noqa: E402

SERVER_URL = "postgres://postgres@127.0.0.1:5432/postgres"
STUDENTS = 2_000
GUARDIANS_PER_STUDENT = 2
CLASS_SIZE = 25
RESULTS_PER_STUDENT = 50
FIRST_TARGET_S = 60.0
REIMPORT_TARGET_S = 20.0

USERS_HEADER = (
    "sourcedId,status,dateLastModified,enabledUser,orgSourcedIds,role,username,"
    "userIds,givenName,familyName,middleName,identifier,email,sms,phone,"
    "agentSourcedIds,grades,password"
).split(",")


def write(folder: Path, name: str, header: list[str], rows) -> None:
    with open(folder / f"{name}.csv", "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(header)
        writer.writerows(rows)


def user(sid: str, role: str, given: str, family: str, agents: str = ""):
    email = f"{sid}@bench.test"
    return [
        sid,
        "",
        "",
        "true",
        "org-s",
        role,
        sid,
        "",
        given,
        family,
        "",
        "",
        email,
        "",
        "",
        agents,
        "",
        "",
    ]


def generate(folder: Path) -> None:
    """Write a OneRoster 1.1 bulk bundle of the benchmark's size."""
    classes = STUDENTS // CLASS_SIZE
    files = [
        "orgs",
        "academicSessions",
        "classes",
        "users",
        "demographics",
        "enrollments",
        "categories",
        "lineItems",
        "results",
    ]
    write(
        folder,
        "manifest",
        ["propertyName", "value"],
        [["manifest.version", "1.0"], ["oneroster.version", "1.1"]]
        + [[f"file.{f}", "bulk"] for f in files],
    )
    write(
        folder,
        "orgs",
        ["sourcedId", "status", "dateLastModified", "name", "type"],
        [["org-s", "", "", "Bench College", "school"]],
    )
    write(
        folder,
        "academicSessions",
        [
            "sourcedId",
            "status",
            "dateLastModified",
            "title",
            "type",
            "startDate",
            "endDate",
            "parentSourcedId",
            "schoolYear",
        ],
        [
            [
                f"gp-{p}",
                "",
                "",
                f"Periode {p}",
                "gradingPeriod",
                "2024-08-26",
                "2025-07-12",
                "",
                "2025",
            ]
            for p in range(1, 5)
        ],
    )
    write(
        folder,
        "classes",
        [
            "sourcedId",
            "status",
            "dateLastModified",
            "title",
            "grades",
            "courseSourcedId",
            "classCode",
            "classType",
            "location",
            "schoolSourcedId",
            "termSourcedIds",
        ],
        [
            [
                f"cls-{c}",
                "",
                "",
                f"Klas {c}",
                "",
                "crs-1",
                f"K{c}",
                "homeroom",
                "",
                "org-s",
                "gp-1",
            ]
            for c in range(classes)
        ],
    )
    users, demographics, enrollments = [], [], []
    for s in range(STUDENTS):
        guardians = [f"gdn-{s}-{g}" for g in range(GUARDIANS_PER_STUDENT)]
        users.append(user(f"stu-{s}", "student", "Kind", f"Nr{s}", ",".join(guardians)))
        users.extend(user(g, "guardian", "Ouder", f"Nr{s}") for g in guardians)
        demographics.append([f"stu-{s}", "", "", f"2012-{s % 12 + 1:02d}-15"])
        enrollments.append(
            [
                f"enr-{s}",
                "",
                "",
                f"cls-{s // CLASS_SIZE}",
                "org-s",
                f"stu-{s}",
                "student",
                "",
                "",
                "",
            ]
        )
    for c in range(classes):
        users.append(user(f"tch-{c}", "teacher", "Docent", f"Nr{c}"))
        enrollments.append(
            [
                f"enr-t{c}",
                "",
                "",
                f"cls-{c}",
                "org-s",
                f"tch-{c}",
                "teacher",
                "true",
                "",
                "",
            ]
        )
    write(folder, "users", USERS_HEADER, users)
    write(
        folder,
        "demographics",
        ["sourcedId", "status", "dateLastModified", "birthDate"],
        demographics,
    )
    write(
        folder,
        "enrollments",
        [
            "sourcedId",
            "status",
            "dateLastModified",
            "classSourcedId",
            "schoolSourcedId",
            "userSourcedId",
            "role",
            "primary",
            "beginDate",
            "endDate",
        ],
        enrollments,
    )
    write(
        folder,
        "categories",
        ["sourcedId", "status", "dateLastModified", "title"],
        [["cat-1", "", "", "Toetsen"]],
    )
    write(
        folder,
        "lineItems",
        [
            "sourcedId",
            "status",
            "dateLastModified",
            "title",
            "description",
            "assignDate",
            "dueDate",
            "classSourcedId",
            "categorySourcedId",
            "gradingPeriodSourcedId",
            "resultValueMin",
            "resultValueMax",
        ],
        [
            [
                f"li-{c}-{i}",
                "",
                "",
                f"Toets {i}",
                "",
                "2024-10-01",
                "2024-10-08",
                f"cls-{c}",
                "cat-1",
                f"gp-{i % 4 + 1}",
                "1",
                "10",
            ]
            for c in range(classes)
            for i in range(RESULTS_PER_STUDENT)
        ],
    )
    write(
        folder,
        "results",
        [
            "sourcedId",
            "status",
            "dateLastModified",
            "lineItemSourcedId",
            "studentSourcedId",
            "scoreStatus",
            "score",
            "scoreDate",
            "comment",
        ],
        (
            [
                f"r-{s}-{i}",
                "",
                "",
                f"li-{s // CLASS_SIZE}-{i}",
                f"stu-{s}",
                "fully graded",
                f"{(s + i) % 10 + 1}.5",
                "2024-10-09",
                "",
            ]
            for s in range(STUDENTS)
            for i in range(RESULTS_PER_STUDENT)
        ),
    )


async def bench(server_url: str) -> int:
    admin = server_url.replace("postgres://", "postgresql://", 1)
    name = f"inzage_bench_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(admin)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    database_url = f"{server_url.rpartition('/')[0]}/{name}"
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / "bundle"
            folder.mkdir()
            generate(folder)
            await open_database(Settings(data_dir=Path(tmp), database_url=database_url))
            try:
                start = time.perf_counter()
                first = await import_bundle(folder, "BENCH")
                first_s = time.perf_counter() - start
                start = time.perf_counter()
                second = await import_bundle(folder, "BENCH")
                second_s = time.perf_counter() - start
            finally:
                await close_database()
    finally:
        conn = await asyncpg.connect(admin)
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()
    print(
        f"first import:  {first_s:6.1f} s (target <= {FIRST_TARGET_S:.0f} s)  "
        f"{first.lines()[-1]}"
    )
    print(
        f"re-import:     {second_s:6.1f} s (target <= {REIMPORT_TARGET_S:.0f} s)  "
        f"{second.lines()[-1]}"
    )
    ok = first_s <= FIRST_TARGET_S and second_s <= REIMPORT_TARGET_S
    print("within targets" if ok else "TARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(bench(sys.argv[1] if len(sys.argv) > 1 else SERVER_URL)))
