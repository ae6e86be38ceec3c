"""Existing rows of one model held in memory, compared and written in bulk.

The importer never queries per row: it loads a school's rows once, decides
what each should look like, and writes only the differences, in batches.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.models import Model

from models.oneroster.report import Tally

# bulk_update sends two parameters per field and object; PostgreSQL allows
# 32,767 parameters in one statement.
_MAX_PARAMETERS = 30_000
_CREATE_BATCH = 1_000


class Store:
    """A model's rows keyed by a natural key, with the changes wanted."""

    def __init__(
        self,
        model: type[Model],
        fields: tuple[str, ...],
        rows: Iterable[dict[str, Any]],
        key: Callable[[dict[str, Any]], Hashable | None],
    ):
        self.model = model
        self.fields = fields
        self.current: dict[Hashable, dict[str, Any]] = {}
        for row in rows:
            k = key(row)
            if k is not None:
                self.current[k] = row
        self.new: dict[Hashable, dict[str, Any]] = {}
        self.updates: dict[Hashable, dict[str, Any]] = {}
        self.touched: set[Hashable] = set()

    def state(self, key: Hashable) -> dict[str, Any] | None:
        """Return the row as it will be after the import, or None."""
        return self.new.get(key) or self.updates.get(key) or self.current.get(key)

    def put(
        self,
        key: Hashable,
        values: dict[str, Any],
        on_create: dict[str, Any] | None = None,
    ) -> None:
        """Want these values for the row; fields staff locked are left alone.

        ``on_create`` holds further values for a row that does not exist yet.
        """
        self.touched.add(key)
        if key in self.new:
            self.new[key].update(values)
            return
        current = self.current.get(key)
        if current is None:
            self.new[key] = {**(on_create or {}), **values}
            return
        locked = set(current.get("staff_locked") or ())
        wanted = dict(self.updates.get(key) or {f: current[f] for f in self.fields})
        for name, value in values.items():
            if name not in locked:
                wanted[name] = value
        if any(wanted[f] != current[f] for f in self.fields):
            self.updates[key] = wanted
        else:
            self.updates.pop(key, None)

    def tally(self) -> Tally:
        changed = len(self.updates)
        unchanged = len(self.touched) - len(self.new) - changed
        return Tally(added=len(self.new), changed=changed, unchanged=unchanged)

    async def write(self, conn: BaseDBAsyncClient, **common: Any) -> None:
        """Insert the new rows and update the changed ones."""
        if self.new:
            await self.model.bulk_create(
                [self.model(**common, **values) for values in self.new.values()],
                batch_size=_CREATE_BATCH,
                using_db=conn,
            )
        if self.updates:
            objects = [
                self.model(id=self.current[key]["id"], **values)
                for key, values in self.updates.items()
            ]
            batch = max(1, _MAX_PARAMETERS // (2 * len(self.fields) + 1))
            await self.model.bulk_update(
                objects, fields=list(self.fields), batch_size=batch, using_db=conn
            )
