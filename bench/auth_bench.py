"""Benchmark the account timings of SECURITY-BASELINE A12 and A35.

A12: the forgot-password answer takes the same time for a known and an
unknown account (medians within 50 ms). A35: while 20 sign-ins hash their
passwords at once, an unrelated page still answers quickly (p95 < 200 ms).

Runs hypercorn on a throw-away PostgreSQL database, as the Procfile does, and
sends its requests from several loopback addresses (127.0.0.x) so that the
per-address limits do not decide the outcome.

    .venv/bin/python bench/auth_bench.py
"""

from __future__ import annotations

import asyncio
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import create_database, drop_database, hypercorn  # noqa: E402
from models.db import close_database, open_database  # noqa: E402
from models.entities import Person, School  # noqa: E402
from models.passwords import hash_password  # noqa: E402
from models.settings import Settings  # noqa: E402

PASSWORD = "bench horse battery staple"
ACCOUNTS = 80
ROUNDS = 30
SIGN_INS = 20
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


async def seed(database_url: str, data_dir: Path) -> None:
    settings = Settings(data_dir=data_dir, database_url=database_url)
    await open_database(settings)
    try:
        school = await School.create(code="BENCH", name="Bench School")
        stored = hash_password(PASSWORD)
        for n in range(ACCOUNTS):
            await Person.create(
                school=school, email=f"p{n}@example.test", password_hash=stored
            )
    finally:
        await close_database()


def client_from(n: int, base: str) -> httpx.AsyncClient:
    transport = httpx.AsyncHTTPTransport(local_address=f"127.0.0.{2 + n % 200}")
    return httpx.AsyncClient(base_url=base, transport=transport, timeout=30)


async def post_form(client: httpx.AsyncClient, path: str, fields: dict) -> float:
    """GET the form, POST it with its token; return the POST's seconds."""
    page = await client.get(path)
    token = CSRF.search(page.text).group(1)
    # The cookie is Secure (__Host-); over plain HTTP it is passed by hand.
    pre = page.headers.get("set-cookie", "").split(";")[0]
    started = time.perf_counter()
    response = await client.post(
        path,
        data={"csrf_token": token, **fields},
        headers={"Cookie": pre, "Sec-Fetch-Site": "same-origin"},
    )
    elapsed = time.perf_counter() - started
    assert response.status_code in (200, 302), (path, response.status_code)
    return elapsed


async def forgot_timings(base: str) -> tuple[list[float], list[float]]:
    known, unknown = [], []
    for n in range(ROUNDS):
        async with client_from(n, base) as client:
            known.append(
                await post_form(
                    client,
                    "/forgot",
                    {"school": "BENCH", "email": f"p{n}@example.test"},
                )
            )
            unknown.append(
                await post_form(
                    client,
                    "/forgot",
                    {"school": "BENCH", "email": f"x{n}@example.test"},
                )
            )
    return known, unknown


async def page_latency_under_sign_ins(base: str) -> tuple[list[float], float]:
    stop = asyncio.Event()
    latencies: list[float] = []

    async def watch() -> None:
        async with client_from(250, base) as client:
            while not stop.is_set():
                started = time.perf_counter()
                await client.get("/forgot")
                latencies.append(time.perf_counter() - started)
                await asyncio.sleep(0.02)

    async def sign_in(n: int) -> float:
        async with client_from(n, base) as client:
            return await post_form(
                client,
                "/login",
                {
                    "school": "BENCH",
                    "email": f"p{ACCOUNTS - 1 - n}@example.test",
                    "password": PASSWORD,
                },
            )

    watcher = asyncio.create_task(watch())
    await asyncio.sleep(0.5)
    started = time.perf_counter()
    await asyncio.gather(*(sign_in(n) for n in range(SIGN_INS)))
    burst = time.perf_counter() - started
    stop.set()
    await watcher
    return latencies, burst


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1]


async def main() -> int:
    database_url = await create_database()
    try:
        with tempfile.TemporaryDirectory() as folder:
            data_dir = Path(folder)
            await seed(database_url, data_dir)
            with hypercorn(database_url, data_dir, workers=1) as server:
                base = server.base
                known, unknown = await forgot_timings(base)
                latencies, burst = await page_latency_under_sign_ins(base)
    finally:
        await drop_database(database_url)

    known_ms = statistics.median(known) * 1000
    unknown_ms = statistics.median(unknown) * 1000
    print(f"A12 forgot password, {ROUNDS} requests each (one hypercorn worker):")
    print(f"  median known account   {known_ms:7.1f} ms")
    print(f"  median unknown account {unknown_ms:7.1f} ms")
    print(f"  difference             {abs(known_ms - unknown_ms):7.1f} ms (limit 50)")
    print(f"A35 {SIGN_INS} concurrent sign-ins took {burst * 1000:.0f} ms;")
    print(
        f"  unrelated GET /forgot during them: {len(latencies)} requests,"
        f" p95 {p95(latencies) * 1000:.1f} ms, max {max(latencies) * 1000:.1f} ms"
        " (limit p95 200)"
    )
    ok = abs(known_ms - unknown_ms) <= 50 and p95(latencies) < 0.2
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
