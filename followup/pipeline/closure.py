"""A follow-up that ends closes what is pending; one that resumes opens it again.

Any status but `active` (patients.FollowupStatus: completed, lost, declined, deceased,
transferred) makes the patient's pending checkpoints and PROM time points not applicable:
waived, with the reason and `not_applicable` set (the waiver's audit keeps who and when);
their live questionnaire invitations are cancelled, so no e-mail goes and no link opens.
Their overdue alerts resolve with the reason (alerts_lifecycle.end_followups, in the same
refresh). Set `active` again, the checkpoints closed that way are open again and planned
as any other (the refresh re-plans and matches them after this step); the PROM time
points whose window is still open get a new invitation at the next run.

Set-based: a few UPDATEs for all the patients of a refresh batch.
"""

from collections.abc import Sequence
from datetime import datetime

from django.db.models import Q

from followup.models import Checkpoint, CheckpointKind, PromInvitation
from patients.models import FollowupStatus, Patient

from .alerts_lifecycle import followup_ended

PENDING = Q(satisfied_by__isnull=True, answered_by__isnull=True, waived_at__isnull=True) & ~Q(
    kind=CheckpointKind.MILESTONE
)


def not_applicable(patient: Patient) -> str:
    """'Not applicable: follow-up ended: patient deceased (reason).'"""
    ended = followup_ended(patient)
    return f"Not applicable: {ended[0].lower()}{ended[1:]}"


def apply_many(patient_ids: Sequence[int], now: datetime) -> tuple[int, int]:
    """Close or re-open the pending follow-up of these patients by their status; returns
    (closed, re-opened) checkpoints."""
    ended = list(
        Patient.objects.filter(pk__in=patient_ids)
        .exclude(followup_status=FollowupStatus.ACTIVE)
        .only("followup_status", "followup_status_reason")
    )
    closed = 0
    for patient in ended:
        reason = not_applicable(patient)
        closed += Checkpoint.objects.filter(PENDING, patient=patient).update(
            waived_at=now, waived_reason=reason, waived_by=None, not_applicable=True
        )
        PromInvitation.objects.filter(
            patient=patient, cancelled_at__isnull=True, completed_at__isnull=True
        ).update(cancelled_at=now, cancel_reason=reason)
    reopened = (
        Checkpoint.objects.filter(
            patient_id__in=patient_ids,
            not_applicable=True,
            patient__followup_status=FollowupStatus.ACTIVE,
        )
        .update(
            waived_at=None, waived_reason="", waived_by=None, not_applicable=False,
            overdue_since=None,
        )
    )  # fmt: skip
    return closed, reopened
