"""Throughput of a section page against the health route, on PostgreSQL.

Starts the app with hypercorn as in the Procfile, signs a guardian in, and
measures with wrk, in one run, page 1 of a section holding 1,000 records and
the health route, which touches no database. Prints both and their ratio.
Target: the section page at 20% or more of the health route.

    .venv/bin/python bench/section_bench.py [--seconds 5] [--rounds 7]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    compare,
    create_database,
    drop_database,
    hypercorn,
    throughput,
)
from models.db import close_database, open_database  # noqa: E402
from models.entities import Person, Relation, Result, School, Student  # noqa: E402
from models.sessions import COOKIE_NAME, start_session  # noqa: E402
from models.settings import Settings  # noqa: E402

TARGET_RATIO = 0.20
RECORDS = 1000


async def seed(settings: Settings) -> tuple[int, str]:
    """Create a guardian and a student with 1,000 results; return id and token."""
    await open_database(settings)
    school = await School.create(code="BENCH", name="Bench school")
    student = await Student.create(
        school=school,
        given_name="Eva",
        family_name="Bakker",
        birth_date=date(2014, 5, 1),
    )
    guardian = await Person.create(school=school, email="ouder@bench.test")
    await Relation.create(person=guardian, student=student, kind="guardian")
    start = date(2025, 9, 1)
    await Result.bulk_create(
        [
            Result(
                student=student,
                date=start + timedelta(days=i % 400),
                subject=f"Vak {i % 12}",
                title=f"Toets {i}",
                score=f"{5 + i % 5},{i % 10}",
            )
            for i in range(RECORDS)
        ]
    )
    token = await start_session(guardian)
    await close_database()
    return student.id, token


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # Short rounds, many of them: this machine's speed drifts by a third over
    # a minute, and a round's two runs compare fairly only when close in time.
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()

    database_url = asyncio.run(create_database())
    try:
        with tempfile.TemporaryDirectory() as data_dir:
            settings = Settings(database_url=database_url, data_dir=Path(data_dir))
            student_id, token = asyncio.run(seed(settings))
            with hypercorn(database_url, Path(data_dir)) as server:
                section_url = f"{server.base}/students/{student_id}/results"
                health_url = f"{server.base}/health"
                cookie = [f"Cookie: {COOKIE_NAME}={token}"]
                throughput(section_url, cookie, 2, args.connections)  # warm up
                section, health, ratio = compare(
                    lambda: throughput(
                        section_url,
                        cookie,
                        args.seconds,
                        args.connections,
                        workers=server.workers,
                    ),
                    lambda: throughput(
                        health_url,
                        None,
                        args.seconds,
                        args.connections,
                        workers=server.workers,
                    ),
                    args.rounds,
                )
    finally:
        asyncio.run(drop_database(database_url))

    print(f"medians of {args.rounds} rounds of {args.seconds} s, taking turns:")
    print(f"health route:        {health:8.1f} requests/s")
    print(f"section page (1000): {section:8.1f} requests/s")
    print(f"ratio:               {ratio:8.1%}  (target {TARGET_RATIO:.0%} or more)")


if __name__ == "__main__":
    main()
