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
from dataclasses import dataclass
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


@dataclass
class Server:
    base: str
    workers: tuple[int, ...]


@contextlib.contextmanager
def hypercorn(database_url: str, data_dir: Path, workers: int = 2) -> Iterator[Server]:
    """Run the web process as the Procfile does; yield its URL and workers."""
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
        yield Server(base, worker_pids(process))
    finally:
        process.terminate()
        process.wait(timeout=15)


# wrk opens all its connections in the first millisecond, and every hypercorn
# worker accepts from the one shared socket as many connections as are
# waiting: the first worker to wake took all of them in most runs, the other
# stood idle, and a route's figure swung by half between runs. The load comes
# in two waves, each of half the connections and its own wrk; the second
# starts when the first is running. A run in which a worker still did less
# than half its share is measured again. Each run prints what each worker did.
STAGGER_S = 0.5  # wrk takes whole seconds: the first wave runs one more
ATTEMPTS = 4


def _wrk_command(
    url: str, headers: list[str] | None, seconds: int, connections: int, script
) -> list[str]:
    wrk = shutil.which("wrk")
    if wrk is None:
        sys.exit("The benchmark needs wrk: apt-get install wrk")
    command = [wrk, "-t1", f"-c{connections}", f"-d{seconds}s", "--latency"]
    for header in headers or ():
        command += ["-H", header]
    if script is not None:
        command += ["-s", str(script)]
    return [*command, url]


def _rate(url: str, output: str) -> float:
    if "Non-2xx" in output:
        sys.exit(f"{url} answered with errors during the run:\n{output}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", output)[1])


def _cpu_ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])  # utime + stime


def _waves(url, headers, seconds, connections, script, workers) -> tuple[float, list]:
    """Run the two waves; return the summed rate and each worker's CPU ticks."""
    first = connections // 2
    waves = [
        _wrk_command(url, headers, seconds + 1, first, script),
        _wrk_command(url, headers, seconds, connections - first, script),
    ]
    running = [subprocess.Popen(waves[0], stdout=subprocess.PIPE, text=True)]  # noqa: S603
    time.sleep(STAGGER_S)
    before = [_cpu_ticks(pid) for pid in workers]
    running.append(subprocess.Popen(waves[1], stdout=subprocess.PIPE, text=True))  # noqa: S603
    second = running[1].communicate()[0]
    used = [_cpu_ticks(pid) - ticks for pid, ticks in zip(workers, before, strict=True)]
    return _rate(url, running[0].communicate()[0]) + _rate(url, second), used


def throughput(
    url: str,
    headers: list[str] | None,
    seconds: int,
    connections: int,
    *,
    script: Path | None = None,
    workers: tuple[int, ...] = (),
) -> float:
    """Return requests per second for one URL, measured with wrk in two waves.

    The first wave runs half a second longer on both sides, so that the
    second's window lies inside it; the figure is the sum of the two rates.
    With the workers' process ids, prints each worker's share of the CPU they
    used, and measures again (up to ATTEMPTS runs) while one stood nearly idle.
    """
    name = url.rpartition("/")[2] or url
    for attempt in range(1, ATTEMPTS + 1):
        rate, used = _waves(url, headers, seconds, connections, script, workers)
        if not workers or not sum(used):
            return rate
        shares = [ticks / sum(used) for ticks in used]
        balanced = min(shares) >= 0.5 / len(workers)
        print(
            f"    {name}: {rate:.1f}/s, workers "
            + " / ".join(f"{share:.0%}" for share in shares)
            + ("" if balanced or attempt == ATTEMPTS else ", again")
        )
        if balanced:
            break
    return rate


def worker_pids(server: subprocess.Popen) -> tuple[int, ...]:
    """Return the process ids of hypercorn's workers (Linux; else none)."""
    children = Path(f"/proc/{server.pid}/task/{server.pid}/children")
    try:
        pids = [int(pid) for pid in children.read_text().split()]
    except OSError:
        return ()
    # multiprocessing's resource tracker is a child too; workers run serve().
    return tuple(
        pid
        for pid in pids
        if "resource_tracker" not in Path(f"/proc/{pid}/cmdline").read_text()
    )


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
