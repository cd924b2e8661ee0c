"""What a clinic's morning digest says, read in bulk: a fixed number of queries per
clinic, whatever the number of alerts.

Minimum patient data: a patient is shown by MRN and initials, never by name, date of
birth or report text.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.conf import settings
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from followup.models import Alert, AlertStatus, Checkpoint, CheckpointKind, Severity
from followup.models.alerts import SEVERITY_RANK
from patients.models import Clinic, FollowupStatus

# A patient whose follow-up ended (deceased, declined...) appears in no digest.
FOLLOWED = {"patient__followup_status": FollowupStatus.ACTIVE}

DUE_SOON = timedelta(days=7)
MILESTONES_AHEAD = timedelta(days=14)


def admin_url(name: str, *args) -> str:
    return settings.SITE_URL + reverse(f"admin:{name}", args=args)


def due_text(checkpoint: Checkpoint) -> str:
    """When it is due, on the clinic's calendar, as the sweep's messages say it."""
    zone = checkpoint.clinic.zone
    due = timezone.localtime(checkpoint.due_at, zone)
    if checkpoint.kind == CheckpointKind.MILESTONE:
        return str(due.date())  # a milestone is the start of its local day
    if checkpoint.kind == CheckpointKind.WORKUP:
        return f"by {due:%Y-%m-%d %H:%M} ({zone.key})"
    # An exam's window ends at the start of the day after its last day.
    return f"by the end of {(due - timedelta(microseconds=1)).date()}"


@dataclass
class ClinicData:
    """Everything a digest of this clinic can say, read once for all its recipients."""

    clinic: Clinic
    now: datetime
    open_alerts: list[Alert]
    overdue: list[Checkpoint]
    due_soon: list[Checkpoint]
    milestones: list[Checkpoint]


def collect(clinic: Clinic, now: datetime) -> ClinicData:
    open_alerts = list(
        Alert.objects.filter(clinic=clinic, **FOLLOWED)
        .exclude(status=AlertStatus.RESOLVED)
        .select_related("patient")
        .only("pk", "code", "subject", "severity", "status", "snoozed_until", "created_at",
              "message", "patient__mrn", "patient__given_name", "patient__family_name")
        .order_by("created_at")
    )  # fmt: skip
    pending = Checkpoint.objects.filter(
        clinic=clinic, satisfied_by__isnull=True, waived_at__isnull=True, **FOLLOWED
    ).select_related("patient")
    overdue = list(pending.filter(overdue_since__isnull=False).order_by("due_at"))
    due_soon = list(
        pending.filter(
            kind__in=[CheckpointKind.EXAM, CheckpointKind.WORKUP],
            due_at__gt=now,
            due_at__lte=now + DUE_SOON,
        ).order_by("due_at")
    )
    with_questions = {alert.patient_id for alert in open_alerts}
    milestones = list(
        Checkpoint.objects.filter(
            clinic=clinic,
            kind=CheckpointKind.MILESTONE,
            due_at__gt=now,
            due_at__lte=now + MILESTONES_AHEAD,
            patient_id__in=with_questions,
        )
        .select_related("patient")
        .order_by("due_at")
    )
    for checkpoint in (*overdue, *due_soon, *milestones):
        checkpoint.clinic = clinic  # known already: no query per row
        checkpoint.due_text = due_text(checkpoint)
    return ClinicData(clinic, now, open_alerts, overdue, due_soon, milestones)


@dataclass
class Digest:
    clinic: Clinic
    local_date: date
    since: datetime | None
    new_alerts: list[Alert] = field(default_factory=list)
    open_by_severity: list[tuple[str, list[Alert]]] = field(default_factory=list)
    became_overdue: list[Checkpoint] = field(default_factory=list)
    due_soon: list[Checkpoint] = field(default_factory=list)
    milestones: list[Checkpoint] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        return not (self.open_by_severity or self.due_soon or self.became_overdue)


def for_recipient(data: ClinicData, local_date: date, since: datetime | None) -> Digest:
    """What one recipient's digest says: 'new' is what happened since their last digest."""
    by_severity: dict[str, list[Alert]] = defaultdict(list)
    for alert in data.open_alerts:
        by_severity[alert.severity].append(alert)
    return Digest(
        clinic=data.clinic,
        local_date=local_date,
        since=since,
        new_alerts=[a for a in data.open_alerts if since is None or a.created_at > since],
        open_by_severity=[
            (severity, by_severity[severity])
            for severity in sorted(by_severity, key=lambda s: -SEVERITY_RANK[Severity(s)])
        ],
        became_overdue=[c for c in data.overdue if since is None or c.overdue_since > since],
        due_soon=data.due_soon,
        milestones=data.milestones,
    )


def render(digest: Digest) -> tuple[str, str, str]:
    """Subject, plain text and HTML."""
    context = {
        "digest": digest,
        "site": settings.SITE_URL,
        "worklist": admin_url("followup_alert_changelist"),
        "zone": digest.clinic.zone,
    }
    counts = sum(len(alerts) for _, alerts in digest.open_by_severity)
    subject = f"[{digest.clinic.slug}] Follow-up digest {digest.local_date}: {counts} open alert(s)"
    text = render_to_string("followup/email/digest.txt", context)
    html = render_to_string("followup/email/digest.html", context)
    return subject, text, html
