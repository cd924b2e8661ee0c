"""The e-mail outbox: record first, build and send later, exactly once per key.

`queue_*` insert rows whose unique `key` makes a second insert a no-op. `deliver`
claims due rows (SKIP LOCKED, committed before sending, so two workers never send
the same row), sends each, and marks it sent. An SMTP error puts the row back with
a backoff and the error in `last_error` (visible in the admin). A row left
`sending` by a worker that died is put back after CLAIM_TIMEOUT: a crash between
the SMTP server's acceptance and the commit that follows is the only way a message
can go twice; none can be lost.
"""

import logging
import secrets
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.template.loader import render_to_string
from django.utils import timezone

from followup.models import (
    Alert,
    AlertStatus,
    Email,
    EmailKind,
    EmailStatus,
    Severity,
    Subscription,
)
from patients.models import Clinic, Membership

from . import digest

log = logging.getLogger(__name__)

CLAIM_TIMEOUT = timedelta(minutes=10)
BATCH = 50


def backoff(attempts: int) -> timedelta:
    return timedelta(minutes=min(2 ** max(attempts - 1, 0), 60))


# --- Queueing -------------------------------------------------------------------------


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


# --- Delivery -------------------------------------------------------------------------

URGENT = (EmailKind.URGENT, EmailKind.ESCALATION)
DIGESTS = (EmailKind.DIGEST,)


def deliver(now: datetime | None = None, kinds: tuple[str, ...] | None = None) -> int:
    """Send what is due, of these kinds (all by default); returns the number sent.

    Urgent notices and digests are sent by different tasks on different queues, so a
    long digest run never holds an urgent notice back."""
    now = now or timezone.now()
    _take_back_stale_claims(now)
    run = _new_run()
    sent = 0
    while claimed := _claim(now, run, kinds):
        sent += _send_batch(claimed, now)
        if len(claimed) < BATCH:
            break
    return sent


def _new_run() -> str:
    """The token that says which run holds a claim: only that run may mark the row."""
    return secrets.token_hex(16)


def _take_back_stale_claims(now: datetime) -> None:
    """A claim older than CLAIM_TIMEOUT is taken back: its run died, or is slower than any
    e-mail task may be (their hard time limits are well under it, followup/tasks.py). A
    row whose message a run saw accepted after losing its claim (`sent_at`) is sent."""
    stale = Email.objects.filter(status=EmailStatus.SENDING, claimed_at__lt=now - CLAIM_TIMEOUT)
    stale.filter(sent_at__isnull=False).update(status=EmailStatus.SENT)
    stale.update(status=EmailStatus.PENDING)


def _claim(
    now: datetime, run: str | None = None, kinds: tuple[str, ...] | None = None
) -> list[Email]:
    run = run or _new_run()
    with transaction.atomic():
        due = Email.objects.filter(status=EmailStatus.PENDING, next_attempt_at__lte=now)
        if kinds:
            due = due.filter(kind__in=kinds)
        due = due.select_for_update(skip_locked=True).order_by("next_attempt_at", "pk")
        rows = list(due[:BATCH])
        Email.objects.filter(pk__in=[r.pk for r in rows]).update(
            status=EmailStatus.SENDING, claimed_at=now, claimed_by=run, attempts=F("attempts") + 1
        )
    for row in rows:
        row.attempts += 1
        row.claimed_at, row.claimed_by = now, run
    return rows


def _ours(row: Email):
    """The row, if it is still claimed by the run that holds `row`."""
    return Email.objects.filter(pk=row.pk, status=EmailStatus.SENDING, claimed_by=row.claimed_by)


def _renew_claim(row: Email) -> bool:
    """Claim the row again right before sending it. A batch slower than CLAIM_TIMEOUT (a
    sluggish SMTP server) sees its last rows taken back by the next run, as a dead worker's
    would be: the run whose token is on the row sends it, the other leaves it. A run that
    lost the row after its message was accepted recorded `sent_at`: not sent again."""
    if (
        _ours(row)
        .filter(sent_at__isnull=False)
        .update(status=EmailStatus.SENT, last_error=SENT_BY_A_SLOWER_RUN)
    ):
        return False
    fresh = timezone.now()
    renewed = _ours(row).update(claimed_at=fresh)
    row.claimed_at = fresh
    return renewed == 1


SENT_BY_A_SLOWER_RUN = (
    "Accepted by the SMTP server for a run that had lost its claim (slower than the claim "
    "timeout): not sent again."
)


def _send_batch(rows: list[Email], now: datetime) -> int:
    batch = _Batch(
        clinics=Clinic.objects.in_bulk({r.clinic_id for r in rows}),
        alerts=Alert.objects.select_related("patient").in_bulk({r.alert_id for r in rows} - {None}),
    )  # fmt: skip
    sent = 0
    for index, row in enumerate(rows):
        try:
            sent += _send_one(row, batch, now)
        except SoftTimeLimitExceeded:
            # Out of time: the rows not tried yet go back at once (the one in flight may
            # have been accepted: it waits for CLAIM_TIMEOUT, as a dead worker's would).
            _give_back(rows[index + 1 :])
            raise
    return sent


@dataclass
class _Batch:
    clinics: dict[int, Clinic]
    alerts: dict[int, Alert]
    collected: dict[int, digest.ClinicData] = field(default_factory=dict)

    def digest_data(self, clinic: Clinic, now: datetime) -> digest.ClinicData:
        if clinic.pk not in self.collected:
            self.collected[clinic.pk] = digest.collect(clinic, now)
        return self.collected[clinic.pk]


def _give_back(rows: list[Email]) -> None:
    for row in rows:
        _ours(row).update(status=EmailStatus.PENDING, attempts=F("attempts") - 1)


def _send_one(row: Email, batch: _Batch, now: datetime) -> int:
    """Sends the row if it is due and still this run's; returns 1 if it went."""
    clinic = batch.clinics[row.clinic_id]
    if (
        row.kind == EmailKind.DIGEST
        and row.local_date < timezone.localtime(now, clinic.zone).date()
    ):
        _mark(row, status=EmailStatus.SKIPPED, last_error="Its day has passed: not sent late.")
        return 0
    if row.kind == EmailKind.ESCALATION and batch.alerts[row.alert_id].status != AlertStatus.OPEN:
        # Queued while ignored, held back (SMTP down), then acknowledged: not escalated.
        _mark(row, status=EmailStatus.SKIPPED, last_error="Acknowledged before it was sent.")
        return 0
    if not _renew_claim(row):
        return 0  # taken back by another run meanwhile: that run sends it
    try:
        if row.kind == EmailKind.DIGEST:
            data = batch.digest_data(clinic, now)
            subject, text, html = digest.render(
                digest.for_recipient(data, row.local_date, _last_digest(row))
            )
        else:
            subject, text, html = _render_alert(row, batch.alerts[row.alert_id], clinic)
        message = EmailMultiAlternatives(
            subject, text, settings.DEFAULT_FROM_EMAIL, [row.recipient],
            headers={"Message-ID": _message_id(row)},
        )  # fmt: skip
        message.attach_alternative(html, "text/html")
        message.send()
    except SoftTimeLimitExceeded:
        raise
    except Exception as error:  # SMTP down, refused, timed out...
        log.warning("E-mail %s not sent (attempt %s): %s", row.key, row.attempts, error)
        _mark(row, status=EmailStatus.PENDING, last_error=f"{type(error).__name__}: {error}",
              next_attempt_at=now + backoff(row.attempts))  # fmt: skip
        return 0
    if not _mark(row, status=EmailStatus.SENT, sent_at=timezone.now(), subject=subject,
                 built_at=now, last_error=""):  # fmt: skip
        _accepted_after_losing_the_claim(row, subject, now)
    return 1


def _accepted_after_losing_the_claim(row: Email, subject: str, now: datetime) -> None:
    """The server accepted the message after the claim was taken back (this run was slower
    than CLAIM_TIMEOUT). The row is another run's: this one may not mark it sent. It
    records that the message went (`sent_at`), so the run that holds the claim does not
    send it again, if it has not yet (`_renew_claim`); if it has, the message went twice,
    and the log says so."""
    recorded = (
        Email.objects.filter(pk=row.pk, sent_at__isnull=True)
        .exclude(status=EmailStatus.SENT)
        .update(sent_at=timezone.now(), subject=subject, built_at=now)
    )
    log.warning(
        "E-mail %s accepted after its claim was taken back (slower than %s): %s",
        row.key, CLAIM_TIMEOUT,
        "recorded, the run holding it will not send it again" if recorded
        else "another run had sent it already: sent twice",
    )  # fmt: skip


def _message_id(row: Email) -> str:
    # The same for every attempt; ':' is not allowed in a msg-id (RFC 5322 3.6.4).
    return f"<{row.key.replace(':', '.')}@followup>"


def _mark(row: Email, **changes) -> bool:
    """Only the run that holds the claim marks the row (sent, failed, skipped)."""
    return _ours(row).update(**changes) == 1


def _last_digest(row: Email) -> datetime | None:
    """A digest's 'new' means new since the recipient's last digest of this clinic."""
    return (
        Email.objects.filter(clinic_id=row.clinic_id, user_id=row.user_id, kind=EmailKind.DIGEST,
                             status=EmailStatus.SENT)
        .exclude(pk=row.pk)
        .order_by("-built_at")
        .values_list("built_at", flat=True)
        .first()
    )  # fmt: skip


def _render_alert(row: Email, alert: Alert, clinic: Clinic) -> tuple[str, str, str]:
    context = {
        "alert": alert,
        "clinic": clinic,
        "escalation": row.kind == EmailKind.ESCALATION,
        "url": digest.admin_url("followup_alert_change", alert.pk),
    }
    prefix = "ESCALATION" if row.kind == EmailKind.ESCALATION else "URGENT"
    subject = f"[{clinic.slug}] {prefix}: {alert.get_code_display()} ({alert.patient.reference})"
    return (
        # On one line: an MRN with a line break would make every attempt fail (a header
        # cannot hold one), and the notice would never go.
        " ".join(subject.split()),
        render_to_string("followup/email/urgent.txt", context),
        render_to_string("followup/email/urgent.html", context),
    )
