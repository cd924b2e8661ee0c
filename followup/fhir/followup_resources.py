"""A surgery's follow-up plan as a CarePlan, its alerts as Flags."""

from datetime import datetime

from patients.models import Surgery

from ..models import Alert, AlertStatus, Checkpoint, CheckpointStatus
from . import codes
from .datatypes import coding, compact, concept, extension, instant, meta, reference

# CarePlan activity statuses; our own status goes beside it as the status reason.
ACTIVITY_STATUS = {
    CheckpointStatus.UPCOMING: "not-started",
    CheckpointStatus.OPEN: "scheduled",
    CheckpointStatus.OVERDUE: "scheduled",
    CheckpointStatus.SATISFIED: "completed",
    CheckpointStatus.WAIVED: "cancelled",
    CheckpointStatus.PASSED: "completed",
}
PENDING = {"not-started", "scheduled"}


def _activity(row: Checkpoint, now: datetime) -> dict:
    status = row.status_at(now)
    detail = compact(
        {
            "code": concept(codes.CHECKPOINT, row.code, row.label),
            "status": ACTIVITY_STATUS[status],
            "statusReason": concept(codes.CHECKPOINT_STATUS, status, status.label),
            "scheduledPeriod": {"start": instant(row.opens_at), "end": instant(row.due_at)},
            "description": row.recommendation or row.label,
        }
    )
    outcome = [reference("ImagingStudy", row.satisfied_by_id)] if row.satisfied_by_id else []
    return compact({"outcomeReference": outcome, "detail": detail})


def care_plan(row: Surgery, now: datetime) -> dict:
    """Needs `checkpoints` prefetched."""
    checkpoints = list(row.checkpoints.all())
    activities = [_activity(c, now) for c in checkpoints]
    # Changed when the surgery or one of its checkpoints changed (what _lastUpdated reads).
    last_updated = max([row.updated_at, *(c.updated_at for c in checkpoints)])
    pending = any(a["detail"]["status"] in PENDING for a in activities)
    return compact(
        {
            "resourceType": "CarePlan",
            "id": str(row.pk),
            "meta": meta(last_updated),
            "status": "active" if pending or not activities else "completed",
            "intent": "plan",
            "title": f"Imaging follow-up after {row.get_procedure_display()}",
            "subject": reference("Patient", row.patient_id),
            "period": {"start": instant(row.performed_at)},
            "supportingInfo": [reference("Procedure", row.pk)],
            "activity": activities,
        }
    )


def flag(row: Alert, now: datetime) -> dict:
    status = row.status_at(now)
    return compact(
        {
            "resourceType": "Flag",
            "id": str(row.pk),
            "meta": meta(row.updated_at),
            "extension": [
                extension(codes.EXT_ALERT_SEVERITY, valueCode=row.severity),
                extension(codes.EXT_ALERT_STATUS, valueCode=status),
            ],
            # A Flag is active while the alert is open: it waits for a person.
            "status": "active" if status == AlertStatus.OPEN else "inactive",
            "category": [concept(codes.FLAG_CATEGORY, "clinical", "Clinical")],
            "code": {
                "coding": [coding(codes.ALERT, row.code, row.get_code_display())],
                "text": row.message,
            },
            "subject": reference("Patient", row.patient_id),
            "period": {"start": instant(row.created_at)},
        }
    )
