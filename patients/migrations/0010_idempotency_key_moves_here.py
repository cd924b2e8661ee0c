# The Idempotency-Key rows move to the app of the API base that uses them (patients/base/):
# state only, the table keeps its name (followup/0018 forgets the model on its side).

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("patients", "0009_apiclient_creator_expiry"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="IdempotencyKey",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("owner", models.CharField(help_text="client:<id> or user:<id>", max_length=40)),
                        ("key", models.CharField(max_length=255)),
                        ("request_hash", models.CharField(max_length=64)),
                        ("status_code", models.PositiveSmallIntegerField(null=True)),
                        ("response_body", models.JSONField(null=True)),
                        ("created_at", models.DateTimeField(auto_now_add=True, db_index=True)),
                    ],
                    options={
                        "db_table": "followup_idempotencykey",
                        "constraints": [models.UniqueConstraint(fields=("owner", "key"), name="idempotency_unique_key")],
                    },
                ),
            ],
        ),
    ]
