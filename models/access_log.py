"""Write the access log that families and staff read: who saw what, and when.

A view answers only once its row is stored, and a view whose row cannot be
stored shows nothing. Views that reach the log at about the same moment
have their rows stored together, in one statement: under load a web process
then sends one log statement for several views instead of one each, and
every view still waits for its own row.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import weakref
from datetime import datetime

from models import sql

logger = logging.getLogger(__name__)

DETAIL_MAX = 300

LOG_SQL = (
    "INSERT INTO access_log (at, person_id, student_id, section, action, role,"
    " detail) VALUES (?, ?, ?, ?, ?, ?, ?)"
)
# PostgreSQL: any number of rows in one constant statement, a list a column.
LOG_ROWS_SQL = (
    "INSERT INTO access_log (at, person_id, student_id, section, action, role,"
    " detail) SELECT * FROM unnest(?::timestamptz[], ?::int[], ?::int[],"
    " ?::text[], ?::text[], ?::text[], ?::text[])"
)

Row = tuple[datetime, int | None, int, str, str, str, str]


def log_row(
    at: datetime,
    person_id: int | None,
    student_id: int,
    section: str,
    action: str,
    role: str,
    detail: str = "",
) -> Row:
    """Return one row of the log, its detail cut to the column's length."""
    return (at, person_id, student_id, section, action, role, detail[:DETAIL_MAX])


async def write(row: Row) -> None:
    """Store one row of the access log; return once it is stored.

    Raises what storing raised, for this row alone: the caller then shows
    nothing. Not for use inside a transaction, whose rows it would not join.
    """
    await _writer().write(row)


async def _store(rows: list[Row]) -> None:
    if len(rows) == 1:
        await sql.execute(LOG_SQL, *rows[0])
    elif sql.on_postgres():
        columns = [list(column) for column in zip(*rows, strict=True)]
        await sql.execute(LOG_ROWS_SQL, *columns)
    else:
        await sql.execute_many(LOG_SQL, rows)


class LogWriter:
    """Store the rows that wait in one statement, while more gather.

    A statement takes every row waiting when it starts. At most
    ``statements`` run at once; rows that arrive while they all run wait
    for the first to finish: a group commit that keeps PostgreSQL's commit
    waits overlapping without a statement for every view.
    """

    statements = 2

    def __init__(self) -> None:
        self._waiting: list[tuple[Row, asyncio.Future]] = []
        self._running: set[asyncio.Task] = set()
        # A statement has been started and has not taken its rows yet.
        self._starting = False

    async def write(self, row: Row) -> None:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._waiting.append((row, future))
        if not self._starting and len(self._running) < self.statements:
            self._starting = True
            # A context of its own: the rows never join a transaction that
            # the view that starts the statement might hold open.
            task = loop.create_task(self._drain(), context=contextvars.Context())
            self._running.add(task)
            task.add_done_callback(self._running.discard)
        await future

    async def _drain(self) -> None:
        batch: list[tuple[Row, asyncio.Future]] = []
        try:
            while self._waiting:
                self._starting = False
                batch, self._waiting = self._waiting, []
                await self._store_batch(batch)
                batch = []
        except BaseException as error:  # cancelled while the process stops
            for _row, future in [*batch, *self._waiting]:
                _settle(future, error)
            self._waiting = []
            raise
        finally:
            self._starting = False

    async def _store_batch(self, batch: list[tuple[Row, asyncio.Future]]) -> None:
        try:
            await _store([row for row, _future in batch])
        except Exception as error:
            if len(batch) == 1:
                _settle(batch[0][1], error)
                return
            # One bad row must not cost the others their view: each alone.
            logger.warning("storing %d log rows together failed", len(batch))
            for row, future in batch:
                try:
                    await _store([row])
                except Exception as alone:
                    _settle(future, alone)
                else:
                    _settle(future)
        else:
            for _row, future in batch:
                _settle(future)


def _settle(future: asyncio.Future, error: BaseException | None = None) -> None:
    # A view that went away (its client closed the connection) no longer waits.
    if future.done():
        return
    if error is None:
        future.set_result(None)
    elif isinstance(error, asyncio.CancelledError):
        future.cancel()
    else:
        future.set_exception(error)


_writers: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _writer() -> LogWriter:
    """Return this event loop's writer (tests run several loops)."""
    loop = asyncio.get_running_loop()
    writer = _writers.get(loop)
    if writer is None:
        writer = _writers[loop] = LogWriter()
    return writer
