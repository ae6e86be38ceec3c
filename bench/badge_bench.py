"""Throughput of the unread badge against the health route, on PostgreSQL.

Starts the app with hypercorn as in the Procfile, signs in a guardian of two
children with 300 messages (some read, some deleted, some in a section a
carer lost), and measures with wrk, in one run, the badge fragment as HTMX
polls it and the health route, which touches no database. Prints both and
their ratio. Target: the badge at 40% or more of the health route.

    .venv/bin/python bench/badge_bench.py [--seconds 10] [--connections 16]
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
from models.access import utcnow  # noqa: E402
from models.db import close_database, open_database  # noqa: E402
from models.entities import (  # noqa: E402
    Message,
    MessageRecipient,
    Person,
    Relation,
    School,
    Student,
)
from models.sessions import COOKIE_NAME, start_session  # noqa: E402
from models.settings import Settings  # noqa: E402

TARGET_RATIO = 0.40
MESSAGES = 300


async def seed(settings: Settings) -> str:
    """Create a guardian with two children and their messages; return a token."""
    await open_database(settings)
    school = await School.create(code="BENCH", name="Bench school")
    guardian = await Person.create(school=school, email="ouder@bench.test")
    children = []
    for n, born in enumerate((date(2014, 5, 1), date(2009, 5, 1))):
        child = await Student.create(
            school=school, given_name=f"Kind{n}", family_name="Bakker", birth_date=born
        )
        await Relation.create(person=guardian, student=child, kind="guardian")
        children.append(child)
    now = utcnow()
    sections = ("absence", "results", "reports", "care")
    for i in range(MESSAGES):
        message = await Message.create(
            school=school,
            student=children[i % 2],
            kind="section",
            section=sections[i % len(sections)],
            subject=f"Bericht {i}",
            body="Tekst",
            created_at=now - timedelta(minutes=i),
        )
        await MessageRecipient.create(
            message=message,
            person=guardian,
            read_at=now if i % 3 == 0 else None,
            deleted_at=now if i % 10 == 0 else None,
        )
    token = await start_session(guardian)
    await close_database()
    return token


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    database_url = asyncio.run(create_database())
    try:
        with tempfile.TemporaryDirectory() as data_dir:
            settings = Settings(database_url=database_url, data_dir=Path(data_dir))
            token = asyncio.run(seed(settings))
            with hypercorn(database_url, Path(data_dir)) as server:
                base = server.base
                badge_url = f"{base}/inbox/badge"
                headers = [f"Cookie: {COOKIE_NAME}={token}", "HX-Request: true"]
                throughput(badge_url, headers, 2, args.connections)  # warm up
                badge, health, ratio = compare(
                    lambda: throughput(
                        badge_url,
                        headers,
                        args.seconds,
                        args.connections,
                        workers=server.workers,
                    ),
                    lambda: throughput(
                        f"{base}/health",
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
    print(f"health route:  {health:8.1f} requests/s")
    print(f"unread badge:  {badge:8.1f} requests/s")
    print(f"ratio:         {ratio:8.1%}  (target {TARGET_RATIO:.0%} or more)")


if __name__ == "__main__":
    main()
