"""The e-mail channel of the outbox (outbox.py): claim due `Email` rows, build and send
each, mark it sent, exactly once per key.

queueing.py records what is owed (`queue_digests`, `queue_urgent`, re-exported here);
`deliver` claims due rows (SKIP LOCKED, committed before sending, so two workers never
send the same row), sends each, and marks it sent. An SMTP error puts the row back with
a backoff (RETRY) and the error in `last_error` (visible in the admin). A row left
`sending` by a worker that died is put back after CLAIM_TIMEOUT: a crash between the
SMTP server's acceptance and the commit that follows is the only way a message can go
twice; none can be lost.
"""

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db.models import F
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from followup.models import (
    Alert,
    AlertStatus,
    Email,
    EmailKind,
    EmailStatus,
    FeedSilence,
    PromInvitation,
)
from patients.models import Clinic

from . import digest, invitations, outbox
from .invitations import queue_proms
from .queueing import queue_digests, queue_feed_silences, queue_urgent

__all__ = [
    "DIGESTS",
    "PROMS",
    "URGENT",
    "deliver",
    "queue_digests",
    "queue_feed_silences",
    "queue_proms",
    "queue_urgent",
]

log = logging.getLogger(__name__)

CLAIM_TIMEOUT = timedelta(minutes=10)
BATCH = outbox.BATCH
# A failed e-mail waits 1, 2, 4... minutes, at most an hour; it is never given up (a
# digest whose day has passed is skipped instead).
RETRY = outbox.Retry(first=timedelta(minutes=1), cap=timedelta(hours=1))
CLAIMS = outbox.Claims(Email, lease=CLAIM_TIMEOUT, status=EmailStatus.SENDING)


URGENT = (EmailKind.URGENT, EmailKind.ESCALATION, EmailKind.FEED_SILENCE)
DIGESTS = (EmailKind.DIGEST,)
PROMS = invitations.PROM_KINDS


def deliver(now: datetime | None = None, kinds: tuple[str, ...] | None = None) -> int:
    """Send what is due, of these kinds (all by default); returns the number sent.

    Urgent notices and digests are sent by different tasks on different queues, so a
    long digest run never holds an urgent notice back."""
    now = now or timezone.now()
    _take_back_stale_claims(now)
    run = outbox.new_run()
    sent = 0
    while claimed := _claim(now, run, kinds):
        sent += _send_batch(claimed, now)
        if len(claimed) < BATCH:
            break
    return sent


def _take_back_stale_claims(now: datetime) -> None:
    """A claim older than CLAIM_TIMEOUT is taken back: its run died, or is slower than any
    e-mail task may be (their hard time limits are well under it, followup/tasks.py). A
    row whose message a run saw accepted after losing its claim (`sent_at`) is sent."""
    stale = CLAIMS.expired(now)
    stale.filter(sent_at__isnull=False).update(status=EmailStatus.SENT)
    stale.update(status=EmailStatus.PENDING)


def _claim(
    now: datetime, run: str | None = None, kinds: tuple[str, ...] | None = None
) -> list[Email]:
    due = Email.objects.filter(status=EmailStatus.PENDING, next_attempt_at__lte=now)
    if kinds:
        due = due.filter(kind__in=kinds)
    due = due.order_by("next_attempt_at", "pk")
    rows = CLAIMS.batch(due, run or outbox.new_run(), now, attempts=F("attempts") + 1)
    for row in rows:
        row.attempts += 1
    return rows


def _renew_claim(row: Email) -> bool:
    """Claim the row again right before sending it. A batch slower than CLAIM_TIMEOUT (a
    sluggish SMTP server) sees its last rows taken back by the next run, as a dead worker's
    would be: the run whose token is on the row sends it, the other leaves it. A run that
    lost the row after its message was accepted recorded `sent_at`: not sent again."""
    if (
        CLAIMS.held(row)
        .filter(sent_at__isnull=False)
        .update(status=EmailStatus.SENT, last_error=SENT_BY_A_SLOWER_RUN)
    ):
        return False
    return CLAIMS.renew(row, timezone.now())


SENT_BY_A_SLOWER_RUN = (
    "Accepted by the SMTP server for a run that had lost its claim (slower than the claim "
    "timeout): not sent again."
)


def _send_batch(rows: list[Email], now: datetime) -> int:
    batch = _Batch(
        clinics=Clinic.objects.in_bulk({r.clinic_id for r in rows}),
        alerts=Alert.objects.select_related("patient").in_bulk({r.alert_id for r in rows} - {None}),
        invitations=PromInvitation.objects.select_related("patient", "checkpoint").in_bulk(
            {r.invitation_id for r in rows} - {None}
        ),
        silences=FeedSilence.objects.select_related("source").in_bulk(
            {r.feed_silence_id for r in rows} - {None}
        ),
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
    invitations: dict[int, PromInvitation]
    silences: dict[int, FeedSilence]
    collected: dict[int, digest.ClinicData] = field(default_factory=dict)

    def digest_data(self, clinic: Clinic, now: datetime) -> digest.ClinicData:
        if clinic.pk not in self.collected:
            self.collected[clinic.pk] = digest.collect(clinic, now)
        return self.collected[clinic.pk]


def _give_back(rows: list[Email]) -> None:
    for row in rows:
        CLAIMS.held(row).update(status=EmailStatus.PENDING, attempts=F("attempts") - 1)


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
    if row.kind in PROMS and (
        why := invitations.why_not_send(batch.invitations[row.invitation_id], now)
    ):
        # Above all: a reminder queued before the answers arrived is never sent after.
        _mark(row, status=EmailStatus.SKIPPED, last_error=why)
        return 0
    if (
        row.kind == EmailKind.FEED_SILENCE
        and batch.silences[row.feed_silence_id].resolved_at is not None
    ):
        _mark(row, status=EmailStatus.SKIPPED, last_error="The feed was back before it was sent.")
        return 0
    if not _renew_claim(row):
        return 0  # taken back by another run meanwhile: that run sends it
    try:
        if row.kind in PROMS:
            subject, text, html = invitations.render(
                batch.invitations[row.invitation_id], clinic, row.kind
            )
        elif row.kind == EmailKind.DIGEST:
            data = batch.digest_data(clinic, now)
            subject, text, html = digest.render(
                digest.for_recipient(data, row.local_date, _last_digest(row))
            )
        elif row.kind == EmailKind.FEED_SILENCE:
            subject, text, html = _render_feed_silence(batch.silences[row.feed_silence_id], clinic)
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
              next_attempt_at=now + RETRY.wait(row.attempts))  # fmt: skip
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
    return CLAIMS.mark(row, **changes)


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


def _render_feed_silence(silence: FeedSilence, clinic: Clinic) -> tuple[str, str, str]:
    """An operational alert: the source and since when, never a patient."""
    context = {
        "silence": silence,
        "source": str(silence.source),
        "clinic": clinic,
        "url": settings.SITE_URL + reverse("admin:index"),
    }
    subject = f"[{clinic.slug}] Hospital feed silent: {silence.source.facility}"
    return (
        " ".join(subject.split()),
        render_to_string("followup/email/feed_silence.txt", context),
        render_to_string("followup/email/feed_silence.html", context),
    )
