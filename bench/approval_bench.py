"""Approvals on PostgreSQL: latency at a steady rate, and throughput against health.

Starts the app with hypercorn as in the Procfile, signs a guardian in, and
posts cell changes to Instellen toegang as HTMX does (cookie, CSRF header,
the wanted state), alternating approve and withdraw so that every request
writes an approval and its log row.

1. Latency: a small asyncio client sends 100 requests a second for 60
   seconds at fixed moments (open loop: a slow answer does not delay the
   next request, and latency counts from the moment a request was due).
   Prints p50 and p95. Target: p95 at most 25 ms.
2. Throughput: wrk, with a Lua script for the POSTs, against the health
   route in the same run. Prints both and their ratio. Target: 15% or more.

    .venv/bin/python bench/approval_bench.py [--rate 100] [--seconds 60]
        [--wrk-seconds 10] [--connections 16]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    compare,
    create_database,
    drop_database,
    hypercorn,
    throughput,
)
from models.db import close_database, open_database  # noqa: E402
from models.entities import (  # noqa: E402
    SECTIONS,
    Person,
    Relation,
    School,
    Session,
    Student,
)
from models.sessions import COOKIE_NAME, start_session  # noqa: E402
from models.settings import Settings  # noqa: E402

TARGET_P95_MS = 25.0
TARGET_RATIO = 0.15
CARERS = 4

LUA = """
-- Alternate approve and withdraw over the cells, one counter per thread.
local cells = {%(cells)s}
local n = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Cookie"] = "%(cookie)s"
wrk.headers["X-CSRF-Token"] = "%(csrf)s"
wrk.headers["HX-Request"] = "true"
request = function()
  n = n + 1
  local cell = cells[(math.floor(n / 2) %% #cells) + 1]
  local want = (n %% 2 == 0) and "withdraw" or "approve"
  return wrk.format(nil, nil, nil, cell .. "&want=" .. want)
end
"""


async def seed(settings: Settings) -> dict:
    """Create a family with carers; return the guardian's cookie and the cells."""
    await open_database(settings)
    school = await School.create(code="BENCH", name="Bench school")
    student = await Student.create(
        school=school,
        given_name="Eva",
        family_name="Bakker",
        birth_date=date(2014, 5, 1),
    )
    guardians = [
        await Person.create(school=school, email=f"ouder{n}@bench.test") for n in (1, 2)
    ]
    for guardian in guardians:
        await Relation.create(person=guardian, student=student, kind="guardian")
    carers = []
    for n in range(CARERS):
        carer = await Person.create(school=school, email=f"hulp{n}@bench.test")
        await Relation.create(person=carer, student=student, kind="carer")
        carers.append(carer)
    token = await start_session(guardians[0])
    session = await Session.filter(person_id=guardians[0].id).first()
    await close_database()
    return {
        "student_id": student.id,
        "cookie": f"{COOKIE_NAME}={token}",
        "csrf": session.csrf_token,
        "cells": [f"viewer={c.id}&section={s}" for c in carers for s in SECTIONS],
    }


async def steady(url: str, seed: dict, rate: int, seconds: int) -> list[float]:
    """Post at a fixed rate; return each request's latency in ms from its due time."""
    headers = {
        "Cookie": seed["cookie"],
        "X-CSRF-Token": seed["csrf"],
        "HX-Request": "true",
        "Content-Type": "application/x-www-form-urlencoded",
    }
    cells = seed["cells"]
    latencies: list[float] = []
    failures: list[int] = []
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)

    async with httpx.AsyncClient(headers=headers, limits=limits, timeout=10) as http:

        async def one(n: int, due: float) -> None:
            cell = cells[(n // 2) % len(cells)]
            want = "withdraw" if n % 2 else "approve"
            response = await http.post(url, content=f"{cell}&want={want}")
            latencies.append((time.perf_counter() - due) * 1000)
            if response.status_code != 200:
                failures.append(response.status_code)

        start = time.perf_counter() + 0.5
        tasks = []
        for n in range(rate * seconds):
            due = start + n / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(n, due)))
        await asyncio.gather(*tasks)

    if failures:
        sys.exit(f"{len(failures)} approvals failed, e.g. status {failures[0]}")
    return latencies


def wrk_posts(
    url: str, seed: dict, seconds: int, connections: int, workers: tuple[int, ...]
) -> float:
    """Return approvals per second, measured with wrk and a Lua script."""
    cells = ", ".join(f'"{cell}"' for cell in seed["cells"])
    script = LUA % {"cells": cells, "cookie": seed["cookie"], "csrf": seed["csrf"]}
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as lua:
        lua.write(script)
        lua.flush()
        return throughput(
            url, None, seconds, connections, script=Path(lua.name), workers=workers
        )


def percentile(values: list[float], share: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(share * 100) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=100)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--wrk-seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    database_url = asyncio.run(create_database())
    try:
        with tempfile.TemporaryDirectory() as data_dir:
            settings = Settings(database_url=database_url, data_dir=Path(data_dir))
            seeded = asyncio.run(seed(settings))
            with hypercorn(database_url, Path(data_dir)) as server:
                base, workers = server.base, server.workers
                url = f"{base}/students/{seeded['student_id']}/sharing"
                asyncio.run(steady(url, seeded, args.rate, 2))  # warm up
                latencies = asyncio.run(steady(url, seeded, args.rate, args.seconds))
                approvals, health, ratio = compare(
                    lambda: wrk_posts(
                        url, seeded, args.wrk_seconds, args.connections, workers
                    ),
                    lambda: throughput(
                        f"{base}/health",
                        None,
                        args.wrk_seconds,
                        args.connections,
                        workers=workers,
                    ),
                    args.rounds,
                )
    finally:
        asyncio.run(drop_database(database_url))

    p50, p95 = percentile(latencies, 0.50), percentile(latencies, 0.95)
    print(f"steady rate:     {args.rate} approvals/s for {args.seconds} s")
    print(f"latency p50:     {p50:8.1f} ms")
    print(f"latency p95:     {p95:8.1f} ms  (target {TARGET_P95_MS:.0f} ms or less)")
    print(f"medians of {args.rounds} rounds of {args.wrk_seconds} s, taking turns:")
    print(f"health route:    {health:8.1f} requests/s")
    print(f"approvals (wrk): {approvals:8.1f} requests/s")
    print(f"ratio:           {ratio:8.1%}  (target {TARGET_RATIO:.0%} or more)")


if __name__ == "__main__":
    main()
