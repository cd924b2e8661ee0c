"""Which e-mails are owed: today's digests, urgent notices and escalations, each recorded
as an `Email` row before anything is built (mailing.py sends them).

A row's `key` is unique (one digest per clinic, recipient and local day; one urgent
notice per alert and recipient; one escalation per alert; one feed-silence notice per
episode and manager), so a second run, a second
beat or a task delivered twice inserts nothing new.
"""

from collections import defaultdict
from datetime import datetime, timedelta

from django.db.models import Exists, F, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from followup.models import (
    Alert,
    AlertStatus,
    Email,
    EmailKind,
    FeedSilence,
    Severity,
    Subscription,
)
from patients.models import Clinic, Membership, Role


def _subscriptions(**wants):
    """Active staff who still work for the clinic: a setting outlives a membership, but a
    person who left the clinic must not keep receiving its patients' data."""
    works_there = Membership.objects.filter(user=OuterRef("user"), clinic=OuterRef("clinic"))
    return Subscription.objects.filter(
        Q(user__is_superuser=True) | Exists(works_there), user__is_active=True, **wants
    ).select_related("user")


def _record(rows: list[Email]) -> int:
    """Insert the rows whose key is new; returns how many that was.

    `bulk_create(ignore_conflicts=True)` returns every row it was given, inserted or not,
    so the keys already there are left out first; the unique key still settles a race.
    """
    known = set(
        Email.objects.filter(key__in=[row.key for row in rows]).values_list("key", flat=True)
    )
    rows = [row for row in rows if row.key not in known]
    Email.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def queue_digests(now: datetime) -> int:
    """Today's digest for every subscriber of every clinic whose digest hour has come."""
    rows = []
    subscribers = defaultdict(list)
    for sub in _subscriptions(digest=True):
        if sub.user.email:
            subscribers[sub.clinic_id].append(sub.user)
    for clinic in Clinic.objects.filter(pk__in=subscribers):
        local = timezone.localtime(now, clinic.zone)
        if local.hour < clinic.digest_hour:
            continue
        for user in subscribers[clinic.pk]:
            rows.append(
                Email(
                    key=f"digest:{clinic.pk}:{user.pk}:{local.date()}",
                    kind=EmailKind.DIGEST,
                    clinic=clinic,
                    user=user,
                    recipient=user.email,
                    local_date=local.date(),
                    next_attempt_at=now,
                )
            )
    return _record(rows)


def queue_urgent(now: datetime) -> int:
    """One notice per urgent alert and subscribed recipient; one escalation per alert
    nobody acknowledged in the clinic's time. Nothing further until it changes."""
    urgent = Alert.objects.filter(severity=Severity.URGENT).exclude(status=AlertStatus.RESOLVED)
    fresh = urgent.exclude(emails__kind=EmailKind.URGENT).values_list("pk", "clinic_id")
    by_clinic = defaultdict(list)
    for alert_id, clinic_id in fresh:
        by_clinic[clinic_id].append(alert_id)
    recipients = defaultdict(list)
    for sub in _subscriptions(urgent=True, clinic_id__in=by_clinic):
        if sub.user.email:
            recipients[sub.clinic_id].append(sub.user)
    rows = [
        Email(key=f"urgent:{alert_id}:{user.pk}", kind=EmailKind.URGENT, clinic_id=clinic_id,
              user=user, recipient=user.email, alert_id=alert_id, next_attempt_at=now)
        for clinic_id, alerts in by_clinic.items()
        for alert_id in alerts
        for user in recipients[clinic_id]
    ]  # fmt: skip
    queued = _record(rows)
    # The clinic's time runs from the first notice (recorded just above), not from the
    # alert's creation: an alert that became urgent later gets the whole delay too.
    first_notice = (
        Email.objects.filter(alert=OuterRef("pk"), kind=EmailKind.URGENT)
        .order_by("created_at")
        .values("created_at")[:1]
    )
    ignored = (
        urgent.filter(status=AlertStatus.OPEN)
        .exclude(clinic__escalation_email="")
        .exclude(emails__kind=EmailKind.ESCALATION)
        .alias(urgent_since=Coalesce(Subquery(first_notice), "created_at"))
        .filter(
            urgent_since__lte=now - F("clinic__escalation_after_minutes") * timedelta(minutes=1)
        )
        .values_list("pk", "clinic_id", "clinic__escalation_email")
    )
    escalations = [
        Email(key=f"escalation:{alert_id}", kind=EmailKind.ESCALATION, clinic_id=clinic_id,
              recipient=address, alert_id=alert_id, next_attempt_at=now)
        for alert_id, clinic_id, address in ignored
    ]  # fmt: skip
    return queued + _record(escalations)


def queue_feed_silences(now: datetime) -> int:
    """One notice per open feed-silence episode and manager of its clinic (active, with an
    address, who has not turned urgent e-mails off for that clinic). An operational
    alert: it names the source, never a patient."""
    fresh = list(
        FeedSilence.objects.filter(resolved_at__isnull=True)
        .exclude(emails__kind=EmailKind.FEED_SILENCE)
        .values_list("pk", "clinic_id")
    )
    if not fresh:
        return 0
    opted_out = Subscription.objects.filter(
        user=OuterRef("user"), clinic=OuterRef("clinic"), urgent=False
    )
    managers = defaultdict(list)
    for membership in (
        Membership.objects.filter(
            role=Role.MANAGER, clinic_id__in={clinic for _, clinic in fresh}, user__is_active=True
        )
        .exclude(user__email="")
        .exclude(Exists(opted_out))
        .select_related("user")
    ):
        managers[membership.clinic_id].append(membership.user)
    rows = [
        Email(key=f"feed-silence:{silence_id}:{user.pk}", kind=EmailKind.FEED_SILENCE,
              clinic_id=clinic_id, user=user, recipient=user.email, feed_silence_id=silence_id,
              next_attempt_at=now)
        for silence_id, clinic_id in fresh
        for user in managers[clinic_id]
    ]  # fmt: skip
    return _record(rows)
