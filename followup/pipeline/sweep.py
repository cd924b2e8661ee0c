"""The sweep: catch up on stale surgeries, then raise one alert per overdue checkpoint.

One set-based pass. Claiming a checkpoint (setting `overdue_since`) and inserting
its alert happen in one transaction over rows locked with SKIP LOCKED, and the
alert table allows one open alert per cause, so two sweeps at once, or a sweep run
twice, raise each alert exactly once.
"""

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from followup.models import Alert, Checkpoint, CheckpointKind, Hl7Message, SurgeryPlan
from followup.models.alerts import AlertCode
from followup.models.checkpoints import PENDING
from patients.base.api import idempotency, read_audit
from patients.models import FollowupStatus

from . import refresh
from .alerts_lifecycle import end_followups, wake_snoozed

log = logging.getLogger(__name__)

BATCH = 1000


@dataclass
class SweepResult:
    refreshed: int = 0
    alerts: int = 0
    failed: list[int] = field(default_factory=list)


def run(now: datetime | None = None) -> SweepResult:
    now = now or timezone.now()
    result = SweepResult()
    result.refreshed = catch_up(now)
    wake_snoozed(now)
    end_followups(now)
    idempotency.forget_old(now)
    read_audit.forget_old(now)  # at most read_audit.PURGE_BATCH rows a run: the sweep stays short
    forget_old_messages(now)
    while True:
        raised, claimed = _raise_batch(now, exclude=result.failed, result=result)
        result.alerts += raised
        if claimed < BATCH:
            return result


def forget_old_messages(now: datetime, batch: int = 5000) -> int:
    """HL7 messages (raw text: PHI) older than HL7_RETENTION_DAYS; a batch a run."""
    if not settings.HL7_RETENTION_DAYS:
        return 0
    old = Hl7Message.objects.filter(
        received_at__lt=now - timedelta(days=settings.HL7_RETENTION_DAYS)
    ).values_list("pk", flat=True)
    return Hl7Message.objects.filter(pk__in=list(old[:batch])).delete()[0]


def catch_up(now: datetime) -> int:
    """Surgeries whose nudge was lost (broker down, worker killed) are refreshed here."""
    stale = SurgeryPlan.objects.filter(stale_since__isnull=False).values_list(
        "surgery_id", flat=True
    )
    stale = list(stale[:BATCH])
    done = 0
    for start in range(0, len(stale), refresh.CHUNK):
        chunk = stale[start : start + refresh.CHUNK]
        try:
            done += refresh.refresh_many(chunk, now)
        except Exception:
            # One bad surgery must not hold back the others: one by one, then.
            done += sum(_refresh_alone(surgery_id, now) for surgery_id in chunk)
    return done


def _refresh_alone(surgery_id: int, now: datetime) -> bool:
    try:
        return refresh.refresh(surgery_id, now)
    except Exception:
        log.exception("Could not refresh surgery %s; will retry at the next sweep.", surgery_id)
        return False


def overdue_message(checkpoint: Checkpoint) -> str:
    zone = checkpoint.clinic.zone
    if checkpoint.kind == CheckpointKind.WORKUP:
        due = timezone.localtime(checkpoint.due_at, zone)
        return (
            f"{checkpoint.label} was due by {due:%Y-%m-%d %H:%M} ({zone.key}); no fitting "
            f"exam ({'/'.join(checkpoint.modalities)}) has been recorded. "
            f"{checkpoint.recommendation}"
        ).strip()
    last_day = (timezone.localtime(checkpoint.due_at, zone) - timedelta(microseconds=1)).date()
    modalities = "/".join(checkpoint.modalities) or "any"
    return (
        f"{checkpoint.label} ({checkpoint.code}) was due by the end of {last_day} "
        f"({zone.key}); no fitting exam ({modalities}) has been recorded."
    )


def _raise_batch(now: datetime, exclude: list[int], result: SweepResult) -> tuple[int, int]:
    with transaction.atomic():
        claimed = list(
            Checkpoint.objects.filter(PENDING, overdue_at__lte=now)
            # A patient whose follow-up ended (deceased, declined...) is owed no alert.
            .filter(patient__followup_status=FollowupStatus.ACTIVE)
            .exclude(pk__in=exclude)
            .order_by("overdue_at", "pk")
            .select_for_update(skip_locked=True, of=("self",))
            .only(
                "pk", "clinic__timezone", "patient_id", "surgery_id", "code", "label", "due_at",
                "modalities", "overdue_severity", "kind", "recommendation",
            )
            .select_related("clinic")[:BATCH]
        )  # fmt: skip
        alerts, ok = [], []
        for checkpoint in claimed:
            try:
                alerts.append(_alert_for(checkpoint))
                ok.append(checkpoint.pk)
            except Exception:
                # One bad row must not stop the others; it stays pending for the next sweep.
                log.exception("Could not build the overdue alert of checkpoint %s", checkpoint.pk)
                result.failed.append(checkpoint.pk)
        Checkpoint.objects.filter(pk__in=ok).update(overdue_since=now)
        created = Alert.objects.bulk_create(alerts, ignore_conflicts=True)
    return len(created), len(claimed)


def _alert_for(checkpoint: Checkpoint) -> Alert:
    return Alert(
        clinic_id=checkpoint.clinic_id,
        patient_id=checkpoint.patient_id,
        surgery_id=checkpoint.surgery_id,
        checkpoint_id=checkpoint.pk,
        code=(
            AlertCode.WORKUP_OVERDUE
            if checkpoint.kind == CheckpointKind.WORKUP
            else AlertCode.CHECKPOINT_OVERDUE
        ),
        subject=f"checkpoint:{checkpoint.pk}",
        severity=checkpoint.overdue_severity,
        message=overdue_message(checkpoint),
    )
