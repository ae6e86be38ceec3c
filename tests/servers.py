"""Real servers for tests: a free port, a process started and waited for, stopped.

The hypercorn tests, the in-process job tests and the browser tests all start
a server as a person would (a subprocess on a loopback port) and wait for its
health route; this is the one way they do it.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT_S = 30
STOP_TIMEOUT_S = 15


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_health(
    process: subprocess.Popen,
    url: str,
    log_path: Path,
    timeout_s: float = START_TIMEOUT_S,
) -> None:
    """Wait until ``url``/health answers 200; fail with the server's log if not."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    output = log_path.read_text(encoding="utf-8", errors="replace")
    pytest.fail(f"the server did not start (exit code {process.poll()}):\n{output}")


@contextlib.contextmanager
def serve(
    command: list[str],
    env: dict[str, str],
    log_path: Path,
    start_timeout_s: float = START_TIMEOUT_S,
) -> Iterator[str]:
    """Run ``command`` (which binds to ``{port}``) until the block ends; yield its URL.

    The output goes to ``log_path``: a pipe nobody reads would fill and stall
    the server once it logs enough requests.
    """
    port = free_port()
    command = [part.replace("{port}", str(port)) for part in command]
    with log_path.open("wb") as log:
        process = subprocess.Popen(  # noqa: S603
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            url = f"http://127.0.0.1:{port}"
            wait_for_health(process, url, log_path, start_timeout_s)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=STOP_TIMEOUT_S)


def hypercorn_command(python: str) -> list[str]:
    """Serve the app as the Procfile does: hypercorn, two workers."""
    command = [python, "-m", "hypercorn", "web.asgi:app"]
    return command + ["--bind", "127.0.0.1:{port}", "--workers", "2"]
