"""What staff do to a checkpoint: waive it, with a reason."""

from datetime import datetime

from django.db import transaction

from followup.models import Checkpoint, CheckpointKind
from patients.locks import lock_patients

from .alerts_lifecycle import resolve_checkpoint_alerts
from .refresh import mark_stale


class CannotWaive(Exception):
    pass


@transaction.atomic
def waive(checkpoint: Checkpoint, reason: str, user, now: datetime) -> None:
    if checkpoint.kind == CheckpointKind.MILESTONE:
        raise CannotWaive("A milestone is a date, not an exam: it cannot be waived.")
    lock_patients([checkpoint.patient_id])  # the lock order (patients.locks): patient first
    claimed = Checkpoint.objects.filter(
        pk=checkpoint.pk, waived_at__isnull=True, satisfied_by__isnull=True
    ).update(waived_at=now, waived_by=user, waived_reason=reason, updated_at=now)
    if not claimed:
        raise CannotWaive("Only a checkpoint that is neither satisfied nor waived can be waived.")
    checkpoint.refresh_from_db()
    resolve_checkpoint_alerts([checkpoint], now, f"Checkpoint waived: {reason}")
    # What the rules read changed too (a waived baseline is not missing): refresh.
    mark_stale([checkpoint.surgery_id])
