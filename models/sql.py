"""Run the few hand-written SQL statements of the hot paths.

Statements are constants written with ``?`` placeholders and always take their
values as parameters; for PostgreSQL the placeholders become ``$1``, ``$2`` …
once per statement. Nothing here builds SQL from input.
"""

from __future__ import annotations

import itertools
import re
from datetime import date, datetime
from functools import cache
from typing import Any

from tortoise import connections

_PLACEHOLDER = re.compile(r"\?")
_numbered: dict[str, str] = {}


def _for_dialect(dialect: str, statement: str) -> str:
    if dialect == "sqlite":
        return statement
    numbered = _numbered.get(statement)
    if numbered is None:
        counter = itertools.count(1)
        numbered = _PLACEHOLDER.sub(lambda _match: f"${next(counter)}", statement)
        _numbered[statement] = numbered
    return numbered


def on_postgres() -> bool:
    """True when the database is PostgreSQL (else SQLite)."""
    return connections.get("default").capabilities.dialect == "postgres"


async def fetch(statement: str, *params: Any) -> list[dict]:
    """Return the rows of a constant, parameterised SELECT as dicts."""
    conn = connections.get("default")
    query = _for_dialect(conn.capabilities.dialect, statement)
    return await conn.execute_query_dict(query, list(params))


async def execute(statement: str, *params: Any) -> None:
    """Run a constant, parameterised statement that returns no rows."""
    conn = connections.get("default")
    query = _for_dialect(conn.capabilities.dialect, statement)
    await conn.execute_query(query, list(params))


async def execute_many(statement: str, rows: list[tuple]) -> None:
    """Run a constant, parameterised statement once for each row of values."""
    conn = connections.get("default")
    query = _for_dialect(conn.capabilities.dialect, statement)
    await conn.execute_many(query, [list(row) for row in rows])


def date_param(day: date) -> date | str:
    """Pass a date as a parameter: SQLite keeps dates as ISO text (its
    default date adapter is deprecated), PostgreSQL takes a date."""
    dialect = connections.get("default").capabilities.dialect
    return day.isoformat() if dialect == "sqlite" else day


def as_date(value: date | str | None) -> date | None:
    """Read a date column: SQLite returns text, PostgreSQL a date."""
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(value)


def as_datetime(value: datetime | str | None) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value)


def as_bool(value: bool | int | None) -> bool:
    return bool(value)


def model_from_row(model, row: dict, alias: str):
    """Build a model from the columns of a row whose names carry ``alias_``."""
    # Tortoise's own constructor for database rows converts each column the
    # way its queries do (dates, JSON, booleans on SQLite).
    return model._init_from_db(
        **{column: row[key] for key, column in _aliased_columns(model, alias)}
    )


@cache
def _aliased_columns(model, alias: str) -> tuple[tuple[str, str], ...]:
    """Return (name in the row, column) for every column of a model."""
    columns = model._meta.fields_db_projection.values()
    return tuple((f"{alias}_{column}", column) for column in columns)
