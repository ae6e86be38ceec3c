"""Migrations apply on a database that already holds rows."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from tortoise import connections
from tortoise.context import TortoiseContext
from tortoise.migrations.api.migrate import migrate

from models.db import tortoise_config
from models.sql import _for_dialect
from tests.conftest import PG_URL, _create_pg_database, _drop_pg_database

ROOT = Path(__file__).resolve().parents[2]

# Rows as the first schema knew them; the ORM models describe the newest one.
OLD_ROWS = [
    "INSERT INTO school (id, code, name, timezone, sections,"
    " guardian_sections_until_18, require_2fa, created_at)"
    " VALUES (1, 'MIG', 'M', 'Europe/Amsterdam', '[]', '[]', ?, ?)",
    "INSERT INTO person (id, school_id, email, given_name, family_name, language,"
    " can_sign_in, totp_enabled, require_2fa, active, staff_locked, created_at,"
    " updated_at)"
    " VALUES (1, 1, 'm@example.test', '', '', 'nl', ?, ?, ?, ?, '[]', ?, ?)",
    "INSERT INTO student (id, school_id, given_name, family_name, address, phone,"
    " email, active, staff_locked, created_at)"
    " VALUES (1, 1, 'A', 'B', '', '', '', ?, '[]', ?)",
    "INSERT INTO result (student_id, date, subject, title, period, score, comment,"
    " created_at) VALUES (1, ?, 'x', '', '', '', '', ?)",
    "INSERT INTO session (token_hash, person_id, csrf_token, created_at,"
    " last_seen_at, user_agent) VALUES ('h', 1, 'c', ?, ?, '')",
]


@pytest.fixture
async def empty_db_url(tmp_path):
    if PG_URL:
        url = await _create_pg_database(PG_URL)
        yield url
        await _drop_pg_database(PG_URL, url)
    else:
        yield f"sqlite://{tmp_path / f'{uuid.uuid4().hex}.sqlite3'}"


async def scenario(db_url: str) -> None:
    """Migrate to the first schema, add rows, migrate to the newest, check."""
    config = tortoise_config(db_url)
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    params = [
        [False, now],
        [True, False, False, True, now, now],
        [True, now],
        [now.date(), now],
        [now, now],
    ]
    async with TortoiseContext() as ctx:
        await ctx.init(config=config)
        await migrate(config=config, target="models.0001_initial")
        conn = connections.get("default")
        dialect = conn.capabilities.dialect
        for statement, values in zip(OLD_ROWS, params, strict=True):
            await conn.execute_query(_for_dialect(dialect, statement), values)

        await migrate(config=config)
        # migrate() initialises the context again, with new connections.
        conn = connections.get("default")

        session = await conn.execute_query_dict(
            "SELECT pending_2fa, code_failures FROM session"
        )
        result = await conn.execute_query_dict("SELECT active FROM result")
        await ctx.close_connections()
    assert (bool(session[0]["pending_2fa"]), session[0]["code_failures"]) == (False, 0)
    assert bool(result[0]["active"]) is True


def test_new_not_null_columns_get_defaults_for_existing_rows(empty_db_url):
    # In a process of its own: Tortoise keeps per-process SQL state on the
    # model classes, which a second database in this process would disturb.
    code = (
        "import asyncio, sys; from tests.models.test_migrations import scenario;"
        " asyncio.run(scenario(sys.argv[1]))"
    )
    done = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code, empty_db_url],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 0, done.stderr[-3000:]


def test_a_data_folder_named_with_url_characters_holds_the_database(tmp_path):
    # "#" and "?" would end the path of a SQLite URL built as it is; the
    # command then waited on a file elsewhere instead of creating this one.
    data_dir = tmp_path / "school #1 ?2 %3"
    env = {k: v for k, v in os.environ.items() if not k.startswith("INZAGE_")}
    env["INZAGE_DATA_DIR"] = str(data_dir)

    done = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "web.cli", "migrate"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 0, done.stderr[-3000:]
    assert (data_dir / "inzage.sqlite3").stat().st_size > 0
    assert [p.name for p in tmp_path.iterdir()] == [data_dir.name]
