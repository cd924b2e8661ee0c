"""Replayable POSTs: the first answer to each `Idempotency-Key`, kept for a retry (the API
base's patients/base/api/idempotency.py writes and reads them)."""

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
        # Its table kept the name it had when the model lived in followup/ (a state-only
        # move: renaming it would make a patients migration depend on followup's).
        db_table = "followup_idempotencykey"
        constraints = [
            models.UniqueConstraint(fields=["owner", "key"], name="idempotency_unique_key")
        ]

    def __str__(self) -> str:
        return f"{self.owner} {self.key}"
