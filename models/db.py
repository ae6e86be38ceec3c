"""Open the database, bring its schema up to date, and close it again."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import unquote

from tortoise import Tortoise
from tortoise.backends.base.config_generator import expand_db_url
from tortoise.context import TortoiseContext
from tortoise.migrations.api.migrate import migrate

from models.settings import Settings

logger = logging.getLogger(__name__)

MODEL_MODULES = ["models.entities"]


async def _keep_session_state(connection) -> None:
    """Return a pooled PostgreSQL connection without asyncpg's reset query.

    asyncpg's default reset sends one more statement (unlock advisory locks,
    close cursors, unlisten, RESET ALL) after every query Tortoise makes. We
    use none of those; an open transaction is still rolled back by asyncpg
    before this hook runs.
    """


def _connection(db_url: str) -> str | dict[str, Any]:
    if db_url.startswith("sqlite://"):
        # The file's path is quoted in the URL (models.settings.sqlite_url).
        connection = expand_db_url(db_url)
        path = connection["credentials"]["file_path"]
        connection["credentials"]["file_path"] = unquote(path)
        return connection
    if not db_url.startswith(("postgres://", "asyncpg://")):
        return db_url
    connection = expand_db_url(db_url)
    connection["credentials"]["reset"] = _keep_session_state
    return connection


def tortoise_config(db_url: str) -> dict[str, Any]:
    """Return Tortoise's configuration for one database URL."""
    return {
        "connections": {"default": _connection(db_url)},
        "apps": {
            "models": {
                "models": MODEL_MODULES,
                "migrations": "models.migrations",
                "default_connection": "default",
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


# Read by Tortoise's own command line (`tortoise -c models.db.TORTOISE_ORM ...`),
# which writes new migrations; it points at a throw-away SQLite file.
TORTOISE_ORM = tortoise_config("sqlite://data/makemigrations.sqlite3")


async def migrate_database(db_url: str) -> None:
    """Apply every committed migration that the database lacks."""
    config = tortoise_config(db_url)
    async with TortoiseContext() as ctx:
        await ctx.init(config=config)
        await migrate(config=config)
    logger.info("database schema is up to date")


async def open_database(settings: Settings, *, upgrade: bool = True) -> None:
    """Connect the ORM for the whole process, migrating first when asked.

    The global fallback lets every asyncio task (each request under hypercorn,
    each arq job) reach the connections opened here; without it Tortoise 1.x
    keeps them per task and every query in a handler fails.
    """
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if upgrade:
        await migrate_database(settings.db_url)
    await Tortoise.init(
        config=tortoise_config(settings.db_url), _enable_global_fallback=True
    )


async def close_database() -> None:
    await Tortoise.close_connections()
