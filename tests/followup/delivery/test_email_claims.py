"""The e-mail outbox's claims carry their claimant: a token per run, and the time.

Only the run whose token is on a row marks it (sent, failed, skipped). A claim older
than CLAIM_TIMEOUT is taken back by the next run; the slow run that lost it can no
longer mark it, and, when its message is accepted after all, records that it went so
that the new claimant does not send it again. Through a real SMTP server.
"""

import logging
from datetime import timedelta

import pytest
import time_machine
from celery.exceptions import SoftTimeLimitExceeded
from django.core.mail import EmailMultiAlternatives

from followup import tasks
from followup.delivery import mailing
from followup.models import Email, EmailKind, EmailStatus, Severity
from patients.models import Clinic
from tests import factories

from ..conftest import local
from ..conftest_mail import raise_alert, smtp_server, subscriber  # noqa: F401 (a fixture)

T0 = local("Europe/Paris", 2026, 3, 2, 9, 0)
LATER = T0 + mailing.CLAIM_TIMEOUT + timedelta(minutes=1)


@pytest.fixture
def clock(smtp):  # the SMTP server starts before time stands still
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


@pytest.fixture
def clinic(db) -> Clinic:
    return Clinic.objects.create(slug="lyon", name="Lyon", timezone="Europe/Paris")


@pytest.fixture
def notice(clinic) -> Email:
    """One urgent notice queued, for one subscriber."""
    subscriber(clinic, "alice", digest=False)
    raise_alert(factories.patient(clinic), Severity.URGENT)
    assert mailing.queue_urgent(T0) == 1
    return Email.objects.get()


def slow_send(monkeypatch, during):
    """The first message sent takes longer than CLAIM_TIMEOUT: `during()` runs while the
    SMTP server is still busy with it, then the message is accepted."""
    real_send = EmailMultiAlternatives.send
    calls = []

    def send(message, *args, **kwargs):
        calls.append(message)
        if len(calls) == 1:
            during()
        return real_send(message, *args, **kwargs)

    monkeypatch.setattr(EmailMultiAlternatives, "send", send)


def test_a_claim_records_its_run_and_time_and_only_that_run_marks_it(clock, notice):
    (mine,) = mailing._claim(T0)
    notice.refresh_from_db()
    assert (notice.status, notice.claimed_at) == (EmailStatus.SENDING, T0)
    assert notice.claimed_by == mine.claimed_by != ""
    other = Email.objects.get()
    other.claimed_by = "another-run"
    assert not mailing._mark(other, status=EmailStatus.SENT)
    assert not mailing._mark(other, status=EmailStatus.PENDING)  # nor give it back
    assert mailing._mark(mine, status=EmailStatus.SENT)


def test_a_claim_stolen_back_after_a_slow_send_is_not_sent_again(smtp, clock, notice, monkeypatch):
    """The first run's message takes more than CLAIM_TIMEOUT; meanwhile the next run takes
    the claim back. The first run may not mark the row sent, but it records that its
    message went: the next run, when it comes to the row, does not send it again."""
    thief = {}

    def next_run_takes_it_back():
        clock.move_to(LATER)
        mailing._take_back_stale_claims(LATER)
        thief["rows"] = mailing._claim(LATER)

    slow_send(monkeypatch, next_run_takes_it_back)
    assert mailing.deliver(T0) == 1  # the slow run: its message was accepted

    notice.refresh_from_db()
    (stolen,) = thief["rows"]
    assert notice.status == EmailStatus.SENDING  # not marked by the run that lost it
    assert notice.claimed_by == stolen.claimed_by
    assert notice.sent_at is not None  # but it says the message went

    assert mailing._send_batch(thief["rows"], LATER) == 0  # the next run sends nothing
    notice.refresh_from_db()
    assert notice.status == EmailStatus.SENT
    assert "not sent again" in notice.last_error
    assert len(smtp.messages) == 1


def test_a_claim_stolen_and_sent_by_the_next_run_is_not_marked_by_the_slow_run(
    smtp, clock, notice, monkeypatch, caplog
):
    """Worst case: the next run takes the claim back and sends while the first run's message
    is still on the wire. Both went (nothing can tell them apart before the server answers);
    the row is the next run's, and the slow run says in the log that it went twice."""

    def next_run_sends_it():
        clock.move_to(LATER)
        assert mailing.deliver(LATER) == 1

    slow_send(monkeypatch, next_run_sends_it)
    with caplog.at_level(logging.WARNING, logger="followup.delivery.mailing"):
        mailing.deliver(T0)

    notice.refresh_from_db()
    assert notice.status == EmailStatus.SENT
    assert notice.sent_at == LATER  # the next run's mark, not overwritten
    assert "sent twice" in caplog.text
    assert len(smtp.messages) == 2


def test_a_failure_after_the_claim_was_stolen_does_not_put_the_row_back(
    smtp, clock, notice, monkeypatch
):
    """The slow run's SMTP server finally refuses: the row is the next run's now, so the
    slow run's failure must not make it pending again (a third run would send it too)."""
    thief = {}

    def next_run_takes_it_back_then_smtp_fails():
        clock.move_to(LATER)
        mailing._take_back_stale_claims(LATER)
        thief["rows"] = mailing._claim(LATER)
        raise ConnectionResetError("the server hung up")

    slow_send(monkeypatch, next_run_takes_it_back_then_smtp_fails)
    assert mailing.deliver(T0) == 0
    notice.refresh_from_db()
    assert (notice.status, notice.claimed_by) == (EmailStatus.SENDING, thief["rows"][0].claimed_by)
    assert notice.last_error == ""
    assert mailing._send_batch(thief["rows"], LATER) == 1
    assert len(smtp.messages) == 1


def test_out_of_time_a_run_gives_back_the_rows_it_had_not_reached(smtp, clock, clinic, monkeypatch):
    for name in ("alice", "bob", "carol"):
        subscriber(clinic, name, digest=False)
    raise_alert(factories.patient(clinic), Severity.URGENT)
    assert mailing.queue_urgent(T0) == 3

    def soft_time_limit(message, *args, **kwargs):
        raise SoftTimeLimitExceeded()

    monkeypatch.setattr(EmailMultiAlternatives, "send", soft_time_limit)
    with pytest.raises(SoftTimeLimitExceeded):
        mailing.deliver(T0)
    statuses = sorted(Email.objects.values_list("status", "attempts"))
    # The one on the wire may have been accepted: it waits for CLAIM_TIMEOUT.
    assert statuses == [("pending", 0), ("pending", 0), ("sending", 1)]
    monkeypatch.undo()
    assert mailing.deliver(T0) == 2


def test_urgent_notices_and_digests_are_sent_by_their_own_tasks(smtp, clock, clinic):
    clinic.digest_hour = 0
    clinic.save()
    subscriber(clinic, "alice")
    raise_alert(factories.patient(clinic), Severity.URGENT)
    assert tasks.notify_urgent() == {"queued": 1, "sent": 1}
    assert mailing.queue_digests(T0) == 1
    assert tasks.notify_urgent()["sent"] == 0  # the digest is not the urgent task's
    assert tasks.send_digests()["sent"] == 1
    kinds = sorted(Email.objects.values_list("kind", flat=True))
    assert kinds == [EmailKind.DIGEST, EmailKind.URGENT]


def test_every_task_that_sends_e_mail_is_stopped_well_before_a_claim_may_be_taken_back():
    """A claim older than CLAIM_TIMEOUT is taken back as a dead run's: it must be one."""
    for task in (tasks.send_digests, tasks.notify_urgent):
        assert task.soft_time_limit < task.time_limit <= mailing.CLAIM_TIMEOUT.total_seconds() / 2
