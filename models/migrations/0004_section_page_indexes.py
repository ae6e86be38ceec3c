from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0003_accounts_messages')]

    initial = False

    operations = [
        ops.RemoveIndex(
            model_name='Absence',
            name=None,
            fields=['student_id', 'date'],
        ),
        ops.AddIndex(
            model_name='Absence',
            index=Index(fields=['student_id', 'date', 'id']),
        ),
        ops.RemoveIndex(
            model_name='Document',
            name=None,
            fields=['student_id', 'date'],
        ),
        ops.AddIndex(
            model_name='Document',
            index=Index(fields=['student_id', 'date', 'id']),
        ),
        ops.RemoveIndex(
            model_name='Record',
            name=None,
            fields=['student_id', 'section', 'date'],
        ),
        ops.AddIndex(
            model_name='Record',
            index=Index(fields=['student_id', 'section', 'date', 'id']),
        ),
        ops.RemoveIndex(
            model_name='Result',
            name=None,
            fields=['student_id', 'date'],
        ),
        ops.AddIndex(
            model_name='Result',
            index=Index(fields=['student_id', 'active', 'date', 'id']),
        ),
        ops.RemoveIndex(
            model_name='TestScore',
            name=None,
            fields=['student_id', 'date'],
        ),
        ops.AddIndex(
            model_name='TestScore',
            index=Index(fields=['student_id', 'date', 'id']),
        ),
    ]
