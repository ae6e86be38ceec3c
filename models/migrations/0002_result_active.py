from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields


class AddFieldTrueForExistingRows(ops.AddField):
    # Tortoise's AddField writes `ADD COLUMN "active" ... NOT NULL` without a
    # DEFAULT, which PostgreSQL and SQLite both refuse once the table holds
    # rows. This adds the column with DEFAULT true in the database, so every
    # result already imported stays shown; the migration state, and so the
    # model, is the generated one.
    async def database_forward(self, app_label, old_state, new_state, state_editor=None):
        if not state_editor:
            return
        model = new_state.apps.get_model(f"{app_label}.{self.model_name}")
        field = model._meta.fields_map[self.name]
        table = state_editor._qualify_table_name(model._meta.db_table, model._meta.schema)
        column = model._meta.fields_db_projection[self.name]
        sql_type = field.get_for_dialect(state_editor.DIALECT, "SQL_TYPE")
        default = state_editor._escape_default_value(field.to_db_value(True, model))
        await state_editor._run_sql(
            f'ALTER TABLE {table} ADD COLUMN "{column}" {sql_type} NOT NULL DEFAULT {default}'
        )


class Migration(migrations.Migration):
    dependencies = [('models', '0001_initial')]

    initial = False

    operations = [
        AddFieldTrueForExistingRows(
            model_name='Result',
            name='active',
            field=fields.BooleanField(default=True),
        ),
    ]
