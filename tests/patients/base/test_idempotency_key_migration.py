"""patients/0010 and followup/0018 move the Idempotency-Key model from followup to patients
without touching its table: keys stored before the move are read (and replayed) after it,
and going back finds them where they were."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from patients.models import IdempotencyKey

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("followup", "0017_surgery_plan"), ("patients", "0009_apiclient_creator_expiry")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def test_keys_stored_before_the_move_are_read_after_it_and_back():
    old_apps = migrate(BEFORE)
    try:
        OldKey = old_apps.get_model("followup", "IdempotencyKey")
        OldKey.objects.create(
            owner="client:7", key="k-1", request_hash="h" * 64, status_code=201,
            response_body={"id": 3},
        )  # fmt: skip
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
        moved = IdempotencyKey.objects.get(owner="client:7", key="k-1")
        assert (moved.status_code, moved.response_body) == (201, {"id": 3})

        old_apps = migrate(BEFORE)
        back = old_apps.get_model("followup", "IdempotencyKey").objects.get(key="k-1")
        assert back.response_body == {"id": 3}
    finally:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
        IdempotencyKey.objects.all().delete()
