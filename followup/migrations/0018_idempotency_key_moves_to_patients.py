# The Idempotency-Key model now lives in patients (patients/0010): state only, its table
# stays where it is.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("followup", "0017_surgery_plan"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="IdempotencyKey")],
        ),
    ]
