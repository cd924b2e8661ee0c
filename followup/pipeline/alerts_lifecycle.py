"""An alert's life: open -> acknowledged -> resolved, or snoozed until a time.

Each transition is one conditional UPDATE (claim the row in the state it was seen
in), so two people acting at once, or a request sent twice, cannot both win. The
history of transitions is kept by pghistory with who made them.
"""

from collections.abc import Sequence
from datetime import datetime

from django.db.models import Q

from followup.models import Alert, AlertStatus, Checkpoint
from followup.models.alerts import DEADLINE_CODES, AlertCode
from patients.models import FollowupStatus, Patient

ACTIVE = ~Q(status=AlertStatus.RESOLVED)


class TransitionRefused(Exception):
    pass


def _transition(alert: Alert, allowed: Sequence[str], **changes) -> Alert:
    claimed = Alert.objects.filter(pk=alert.pk, status__in=allowed).update(**changes)
    if not claimed:
        alert.refresh_from_db()
        raise TransitionRefused(f"An alert that is {alert.status} cannot be changed this way.")
    alert.refresh_from_db()
    return alert


ACKNOWLEDGEABLE = (AlertStatus.OPEN, AlertStatus.SNOOZED)


def _acknowledged(user, now: datetime) -> dict:
    return {
        "status": AlertStatus.ACKNOWLEDGED,
        "acknowledged_at": now,
        "acknowledged_by": user,
        "snoozed_until": None,
        "updated_at": now,
    }


def acknowledge(alert: Alert, user, now: datetime) -> Alert:
    if alert.status == AlertStatus.ACKNOWLEDGED:
        return alert  # asking twice is the same as asking once
    return _transition(alert, ACKNOWLEDGEABLE, **_acknowledged(user, now))


def acknowledge_many(alerts, user, now: datetime) -> int:
    """The admin's bulk action: one UPDATE, skipping what is already acknowledged or closed."""
    return alerts.filter(status__in=ACKNOWLEDGEABLE).update(**_acknowledged(user, now))


def snooze(alert: Alert, until: datetime, now: datetime) -> Alert:
    if until <= now:
        raise TransitionRefused("A snooze must end in the future.")
    return _transition(
        alert,
        [AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED, AlertStatus.SNOOZED],
        status=AlertStatus.SNOOZED,
        snoozed_until=until,
        updated_at=now,
    )


def resolve(alert: Alert, user, note: str, now: datetime) -> Alert:
    return _transition(
        alert,
        [AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED, AlertStatus.SNOOZED],
        status=AlertStatus.RESOLVED,
        resolved_at=now,
        resolved_by=user,
        resolution_note=note,
        snoozed_until=None,
        updated_at=now,
    )


def wake_snoozed(now: datetime) -> int:
    """Snoozes that have run out: open again (one set-based update, from the sweep)."""
    return Alert.objects.filter(status=AlertStatus.SNOOZED, snoozed_until__lte=now).update(
        status=AlertStatus.OPEN, snoozed_until=None, updated_at=now
    )


def auto_resolve(alerts, now: datetime, note: str) -> int:
    """Resolve, as the service, alerts whose cause is gone; the note says why."""
    return alerts.filter(ACTIVE).update(
        status=AlertStatus.RESOLVED,
        resolved_at=now,
        resolution_note=note,
        auto_resolved=True,
        snoozed_until=None,
        updated_at=now,
    )


def resolve_checkpoint_alerts(checkpoints: Sequence[Checkpoint], now: datetime, note: str) -> int:
    """The overdue alerts of these checkpoints resolve themselves: their cause is gone."""
    if not checkpoints:
        return 0
    alerts = Alert.objects.filter(
        checkpoint__in=[c.pk for c in checkpoints],
        code__in=[AlertCode.CHECKPOINT_OVERDUE, AlertCode.WORKUP_OVERDUE],
    )
    return auto_resolve(alerts, now, note)


# Why an overdue alert's cause is gone, by what became of its checkpoint.
CHECKPOINT_REMOVED = (
    "Cause gone: its checkpoint was removed (the surgery was re-planned or its procedure "
    "corrected, or its clinical event was deleted or withdrawn)."
)
SATISFIED = "Satisfied by an exam."
WAIVED = "Checkpoint waived."
NOT_OVERDUE = "Re-planned: no longer overdue."
OPTIONAL = "Cause gone: the checkpoint is optional (its protocol does not require it)."


def _gone_because(checkpoint: Checkpoint | None, now: datetime) -> str | None:
    if checkpoint is None:
        return CHECKPOINT_REMOVED
    if checkpoint.satisfied_by_id is not None:
        return SATISFIED
    if checkpoint.waived_at is not None:
        return WAIVED
    if checkpoint.overdue_at > now:
        return NOT_OVERDUE
    if not checkpoint.required:
        return OPTIONAL
    return None


def followup_ended(patient: Patient) -> str:
    """Why an overdue alert of a patient whose follow-up ended is resolved."""
    note = f"Follow-up ended: patient {patient.get_followup_status_display().lower()}"
    reason = patient.followup_status_reason.strip()
    return f"{note} ({reason})." if reason else f"{note}."


def end_followups(now: datetime, patient_ids: Sequence[int] | None = None) -> int:
    """The active overdue alerts of patients who are not `active` resolve, the note
    saying why (deceased, declined...): one UPDATE per status and reason, set-based."""
    alerts = Alert.objects.filter(ACTIVE, code__in=DEADLINE_CODES).exclude(
        patient__followup_status=FollowupStatus.ACTIVE
    )
    if patient_ids is not None:
        alerts = alerts.filter(patient_id__in=patient_ids)
    ended = (
        Patient.objects.filter(pk__in=alerts.values("patient_id"))
        .only("followup_status", "followup_status_reason")
        .order_by("pk")
    )
    by_note: dict[str, list[int]] = {}
    for patient in ended:
        by_note.setdefault(followup_ended(patient), []).append(patient.pk)
    return sum(
        auto_resolve(alerts.filter(patient_id__in=ids), now, note) for note, ids in by_note.items()
    )


def reconcile_deadlines(patient_ids: Sequence[int], now: datetime) -> int:
    """No overdue alert without a live cause: each active `checkpoint_overdue` or
    `workup_overdue` alert of these patients whose checkpoint is gone, satisfied, waived
    or no longer past due resolves itself, the note saying which; so does every one of a
    patient whose follow-up ended. (A live cause without its alert is the sweep's: it
    raises one for every pending checkpoint past due of a patient still followed.)"""
    ended = end_followups(now, patient_ids)
    active = Alert.objects.filter(
        ACTIVE, patient_id__in=patient_ids, code__in=DEADLINE_CODES
    ).select_related("checkpoint")
    by_note: dict[str, list[int]] = {}
    for alert in active:
        if note := _gone_because(alert.checkpoint, now):
            by_note.setdefault(note, []).append(alert.pk)
    return ended + sum(
        auto_resolve(Alert.objects.filter(pk__in=ids), now, note) for note, ids in by_note.items()
    )
