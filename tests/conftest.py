"""Shared fixtures: one database per test run, clean tables for every test.

The suite runs on SQLite by default. Set ``INZAGE_TEST_DATABASE_URL`` to a
PostgreSQL server URL (``postgres://postgres@127.0.0.1:5432/postgres``) to run
it on PostgreSQL: a fresh database is created for the run and dropped after.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from tortoise import Tortoise, connections

from models.db import close_database, open_database
from models.settings import Settings

PG_URL = os.environ.get("INZAGE_TEST_DATABASE_URL", "").strip()
REPO_ROOT = Path(__file__).resolve().parent.parent


def shared_dir() -> Path:
    """Return the shared/ folder beside the repository, or INZAGE_SHARED_DIR."""
    configured = os.environ.get("INZAGE_SHARED_DIR", "").strip()
    if configured:
        return Path(configured)
    return (REPO_ROOT.parent / "shared").resolve()


def _pg_admin_dsn(url: str) -> tuple[str, str]:
    """Split a server URL into (admin URL, URL prefix for new databases)."""
    base, _, _ = url.rpartition("/")
    return url, base


async def _create_pg_database(url: str) -> str:
    import asyncpg

    admin_url, base = _pg_admin_dsn(url)
    name = f"inzage_test_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(admin_url.replace("postgres://", "postgresql://", 1))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return f"{base}/{name}"


async def _drop_pg_database(url: str, db_url: str) -> None:
    import asyncpg

    name = db_url.rpartition("/")[2]
    conn = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("inzage-data")


@pytest.fixture(scope="session")
async def settings(data_dir: Path):
    """Settings for this test run, with a database of its own."""
    database_url = await _create_pg_database(PG_URL) if PG_URL else None
    yield Settings(
        env="test",
        data_dir=data_dir,
        database_url=database_url,
        secret_key="test-secret-key-" + "x" * 32,
        base_url="http://127.0.0.1",
    )
    if database_url:
        await _drop_pg_database(PG_URL, database_url)


@pytest.fixture(scope="session")
async def database(settings: Settings):
    """Migrate the run's database once and keep the ORM open for the run."""
    await open_database(settings)
    yield settings
    await close_database()


def _table_names() -> list[str]:
    names = []
    for app in Tortoise.apps.values():
        for model in app.values():
            names.append(model._meta.db_table)
    return names


@pytest.fixture(autouse=True)
async def clean_tables(request):
    """Empty every table before a test that uses the database."""
    if "database" not in request.fixturenames:
        yield
        return
    request.getfixturevalue("database")
    conn = connections.get("default")
    tables = _table_names()
    if PG_URL:
        quoted = ", ".join(f'"{t}"' for t in tables)
        await conn.execute_script(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE")
    else:
        await conn.execute_script(
            "PRAGMA foreign_keys = OFF;"
            + "".join(f'DELETE FROM "{t}";' for t in tables)
            + "DELETE FROM sqlite_sequence;"
            + "PRAGMA foreign_keys = ON;"
        )
    yield


def pytest_collection_modifyitems(config, items):
    """Leave out, rather than skip, tests that only mean something on PostgreSQL.

    The suite runs twice in CI, once on each database; a test marked
    ``postgres`` belongs to the PostgreSQL run only.
    """
    if PG_URL:
        return
    kept = [item for item in items if item.get_closest_marker("postgres") is None]
    deselected = [item for item in items if item.get_closest_marker("postgres")]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = kept


# In CI (INZAGE_NO_SKIP=1) a skipped test is a failure: the browser, Redis and
# PostgreSQL are all there, so nothing may quietly not run.
_skipped: list[str] = []


def pytest_runtest_logreport(report):
    if report.skipped and os.environ.get("INZAGE_NO_SKIP") == "1":
        _skipped.append(report.nodeid)


def pytest_sessionfinish(session, exitstatus):
    if _skipped:
        print(f"\n{len(_skipped)} test(s) skipped where nothing may skip:")
        for nodeid in _skipped:
            print("  " + nodeid)
        session.exitstatus = 1
