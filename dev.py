#!/usr/bin/env python3
"""Quick start with nothing but Python 3.11+: ``python3 dev.py demo`` or ``test``.

The first run makes a virtual environment in ``.venv`` and installs Inzage
with its test tools into it; later runs reinstall only when pyproject.toml
changed. ``demo`` then runs ``inzage demo``; ``test`` runs the test suite, and
passes any further arguments on to pytest.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".inzage-installed"


def ensure_environment() -> None:
    """Create the virtual environment and install the project when needed."""
    if sys.version_info < (3, 11):  # noqa: UP036 - run by any python3 on the PATH
        sys.exit("Inzage needs Python 3.11 or newer.")
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == wanted:
        return
    if not (BIN / "python").exists():
        print("Creating a virtual environment in .venv ...", flush=True)
        venv.create(VENV, with_pip=True)
    print("Installing Inzage and its test tools ...", flush=True)
    pip = [str(BIN / "python"), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)  # noqa: S603
    subprocess.run([*pip, "-e", f"{ROOT}[test]"], check=True)  # noqa: S603
    STAMP.write_text(wanted)


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("demo", "test"):
        print(__doc__)
        return 2
    ensure_environment()
    os.chdir(ROOT)
    if argv[0] == "demo":
        command = [str(BIN / "inzage"), "demo", *argv[1:]]
    else:
        command = [str(BIN / "python"), "-m", "pytest", *argv[1:]]
    if os.name == "posix":
        # Become the command, so that a signal to this process (Ctrl+C, kill)
        # reaches the server or pytest itself and nothing is left running.
        os.execv(command[0], command)  # noqa: S606
    return subprocess.run(command).returncode  # noqa: S603


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
