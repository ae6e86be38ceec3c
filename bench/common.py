"""Helpers the benchmarks share: a throw-away PostgreSQL database, hypercorn, wrk."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parent.parent
PG_SERVER = os.environ.get(
    "INZAGE_BENCH_PG", "postgres://postgres@127.0.0.1:5432/postgres"
)


async def create_database() -> str:
    """Create an empty PostgreSQL database for one benchmark run."""
    name = f"inzage_bench_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(PG_SERVER.replace("postgres://", "postgresql://", 1))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return PG_SERVER.rpartition("/")[0] + "/" + name


async def drop_database(url: str) -> None:
    name = url.rpartition("/")[2]
    conn = await asyncpg.connect(PG_SERVER.replace("postgres://", "postgresql://", 1))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def hypercorn(database_url: str, data_dir: Path, workers: int = 2) -> Iterator[str]:
    """Run the web process as the Procfile does and yield its base URL."""
    port = free_port()
    env = {
        **os.environ,
        "INZAGE_DATABASE_URL": database_url,
        "INZAGE_DATA_DIR": str(data_dir),
        "INZAGE_SECRET_KEY": "bench-secret-" + "z" * 40,
    }
    command = [sys.executable, "-m", "hypercorn", "web.asgi:app"]
    command += ["--bind", f"127.0.0.1:{port}", "--workers", str(workers)]
    process = subprocess.Popen(command, cwd=ROOT, env=env)  # noqa: S603
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(base + "/health", timeout=1).status_code == 200:
                    break
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=15)


def throughput(
    url: str, headers: list[str] | None, seconds: int, connections: int
) -> float:
    """Return requests per second for one URL, measured with wrk."""
    wrk = shutil.which("wrk")
    if wrk is None:
        sys.exit("The benchmark needs wrk: apt-get install wrk")
    command = [wrk, "-t2", f"-c{connections}", f"-d{seconds}s", "--latency"]
    for header in headers or ():
        command += ["-H", header]
    output = subprocess.run(  # noqa: S603
        [*command, url], capture_output=True, text=True, check=True
    ).stdout
    if "Non-2xx" in output:
        sys.exit(f"{url} answered with errors during the run:\n{output}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", output)[1])


def compare(
    measure: Callable[[], float], health: Callable[[], float], rounds: int
) -> tuple[float, float, float]:
    """Measure a route and the health route in turns; return the medians.

    On a shared machine the throughput of one run can swing by a third; taking
    turns, several rounds, and the median of the ratios of each round keeps a
    neighbour's burst from deciding the figure. Returns (route, health, ratio)
    and prints each round.
    """
    pairs = []
    for number in range(1, rounds + 1):
        ours, theirs = measure(), health()
        pairs.append((ours, theirs))
        ratio = ours / theirs
        print(f"  round {number}: {ours:8.1f} vs health {theirs:8.1f} = {ratio:6.1%}")
    return (
        statistics.median(p[0] for p in pairs),
        statistics.median(p[1] for p in pairs),
        statistics.median(p[0] / p[1] for p in pairs),
    )
