"""Migration operations that Tortoise's generated ones lack."""

from __future__ import annotations

from typing import Any

from tortoise.migrations import operations as ops


class AddFieldWithDefault(ops.AddField):
    """Add a NOT NULL column with a database default for the rows already there.

    Tortoise's AddField writes ``ADD COLUMN … NOT NULL`` without a DEFAULT,
    which PostgreSQL and SQLite refuse once the table holds rows.
    """

    def __init__(self, *args: Any, db_default: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.db_default = db_default

    async def database_forward(
        self, app_label, old_state, new_state, state_editor=None
    ):
        if not state_editor:
            return
        model = new_state.apps.get_model(f"{app_label}.{self.model_name}")
        field = model._meta.fields_map[self.name]
        table = state_editor._qualify_table_name(
            model._meta.db_table, model._meta.schema
        )
        column = model._meta.fields_db_projection[self.name]
        sql_type = field.get_for_dialect(state_editor.DIALECT, "SQL_TYPE")
        default = state_editor._escape_default_value(
            field.to_db_value(self.db_default, model)
        )
        # Names and the type come from the model; the default is escaped by
        # Tortoise's own schema editor. Nothing here comes from input.
        statement = (
            f'ALTER TABLE {table} ADD COLUMN "{column}" {sql_type} '  # noqa: S608
            f"NOT NULL DEFAULT {default}"
        )
        await state_editor._run_sql(statement)
