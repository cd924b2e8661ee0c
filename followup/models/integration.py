"""What EHR integrations rely on: replayable POSTs (the alert webhooks: webhooks.py)."""

from django.db import models


class IdempotencyKey(models.Model):
    """The first answer to a POST with an `Idempotency-Key`, replayed for a retry.

    Inserted in the request's own transaction: a concurrent duplicate waits on the
    unique index until the first commits (then replays it) or rolls back (then runs).
    """

    owner = models.CharField(max_length=40, help_text="client:<id> or user:<id>")
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField(null=True)
    response_body = models.JSONField(null=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["owner", "key"], name="idempotency_unique_key")
        ]

    def __str__(self) -> str:
        return f"{self.owner} {self.key}"
