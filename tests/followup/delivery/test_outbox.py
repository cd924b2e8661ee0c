"""The one outbox every channel delivers through: claims that name their run, one retry
schedule (with the circuit breaker), a run's budget. The channels' own guarantees are
tested with them (test_email_claims.py, test_digests.py, integration/test_webhooks*.py)."""

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from followup.delivery import mailing, outbox, webhooks
from followup.models import Email, EmailKind, EmailStatus, WebhookEndpoint
from patients.models import Clinic

MINUTE = timedelta(minutes=1)


def test_one_schedule_gives_each_channel_its_numbers():
    assert [mailing.RETRY.wait(n) for n in range(1, 9)] == [
        MINUTE * m for m in (1, 2, 4, 8, 16, 32, 60, 60)
    ]
    assert [webhooks.RETRY.wait(n).total_seconds() for n in range(1, 3)] == [30, 60]
    assert mailing.RETRY.wait(0) == MINUTE  # no failure yet: the first wait
    assert mailing.RETRY.wait(32_767) == timedelta(hours=1)  # however many, no overflow


def test_an_open_circuit_waits_at_least_its_cool_down(settings):
    settings.WEBHOOK_BREAKER_THRESHOLD = 3
    settings.WEBHOOK_BREAKER_COOLDOWN = timedelta(minutes=20)
    assert webhooks.RETRY.wait(2) == MINUTE
    assert webhooks.RETRY.wait(3) == timedelta(minutes=20)  # open: read from the settings
    assert webhooks.RETRY.wait(12) == timedelta(hours=1)  # the cap is longer still


def test_giving_up_after_a_time_is_a_channels_choice():
    now = timezone.now()
    assert webhooks.RETRY.gives_up(now - timedelta(days=1), now)
    assert not webhooks.RETRY.gives_up(now - timedelta(hours=23), now)
    assert not webhooks.RETRY.gives_up(None, now)
    assert not mailing.RETRY.gives_up(now - timedelta(days=30), now)  # e-mail never


def test_a_budget_allows_one_more_while_its_reserve_is_left():
    assert outbox.Budget(60, reserve=10).allows_one_more()
    assert not outbox.Budget(5, reserve=10).allows_one_more()


@pytest.fixture
def emails(db):
    clinic = Clinic.objects.create(slug="lyon", name="Lyon", timezone="Europe/Paris")
    now = timezone.now()
    return [
        Email.objects.create(key=f"k{i}", kind=EmailKind.ESCALATION, clinic=clinic,
                             recipient="a@example.org", next_attempt_at=now)
        for i in range(3)
    ]  # fmt: skip


def test_a_batch_claim_records_its_run_and_time_and_only_that_run_marks(emails):
    now = timezone.now()
    due = Email.objects.filter(status=EmailStatus.PENDING).order_by("pk")
    mine = mailing.CLAIMS.batch(due, "run-1", now, size=2)
    assert [row.pk for row in mine] == [emails[0].pk, emails[1].pk]
    stored = Email.objects.get(pk=emails[0].pk)
    assert (stored.status, stored.claimed_by, stored.claimed_at) == (
        EmailStatus.SENDING,
        "run-1",
        now,
    )
    (rest,) = mailing.CLAIMS.batch(due, "run-2", now)  # the claimed rows are not due
    assert rest.pk == emails[2].pk

    theirs = Email.objects.get(pk=emails[0].pk)
    theirs.claimed_by = "run-2"
    assert not mailing.CLAIMS.mark(theirs, status=EmailStatus.SENT)
    assert mailing.CLAIMS.mark(mine[0], status=EmailStatus.SENT)


def test_a_claim_older_than_its_lease_has_expired(emails):
    now = timezone.now()
    due = Email.objects.filter(status=EmailStatus.PENDING).order_by("pk")
    mailing.CLAIMS.batch(due, "run-1", now - mailing.CLAIM_TIMEOUT - MINUTE, size=1)
    mailing.CLAIMS.batch(due, "run-2", now, size=1)
    assert list(mailing.CLAIMS.expired(now)) == [emails[0]]


def test_one_row_is_claimed_by_one_run_until_released_or_its_lease_runs_out(db):
    clinic = Clinic.objects.create(slug="lyon", name="Lyon", timezone="Europe/Paris")
    endpoint = WebhookEndpoint.objects.create(clinic=clinic, url="https://example.org/hook")
    now = timezone.now()

    def claimable(at):
        return WebhookEndpoint.objects.filter(webhooks.CLAIMS.unclaimed(at), pk=endpoint.pk)

    assert webhooks.CLAIMS.one(claimable(now), "run-1", now)
    assert not webhooks.CLAIMS.one(claimable(now), "run-2", now)
    later = now + webhooks.CLAIM_LEASE + MINUTE
    assert webhooks.CLAIMS.one(claimable(later), "run-2", later)  # run-1 died

    endpoint.refresh_from_db()
    assert endpoint.claimed_by == "run-2"
    webhooks.CLAIMS.release(WebhookEndpoint(pk=endpoint.pk, claimed_by="run-1"))  # not its own
    assert WebhookEndpoint.objects.get(pk=endpoint.pk).claimed_by == "run-2"
    webhooks.CLAIMS.release(endpoint)
    assert WebhookEndpoint.objects.get(pk=endpoint.pk).claimed_by == ""


@pytest.mark.django_db(transaction=True)
def test_two_runs_racing_for_a_row_their_claimable_joins_to_another_table_claim_it_once():
    """A webhook receiver's `claimable` joins its API client (revoked?): the UPDATE becomes
    a sub-select. The second run starts while the first one's claim is not yet committed,
    waits on the row, and must find it claimed once the first commits."""
    clinic = Clinic.objects.create(slug="lyon", name="Lyon", timezone="Europe/Paris")
    endpoint = WebhookEndpoint.objects.create(clinic=clinic, url="https://example.org/hook")
    now = timezone.now()
    second: list[bool] = []

    def run_2():
        try:
            second.append(webhooks.CLAIMS.one(webhooks._claimable(now).filter(pk=endpoint.pk),
                                              "run-2", now))  # fmt: skip
        finally:
            connection.close()

    with transaction.atomic():
        assert webhooks.CLAIMS.one(webhooks._claimable(now).filter(pk=endpoint.pk), "run-1", now)
        thread = threading.Thread(target=run_2)
        thread.start()
        waiting = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
        with connection.cursor() as cursor:
            for _ in range(200):  # until run 2 waits on the row run 1 holds
                cursor.execute("SELECT pg_stat_clear_snapshot()")  # read afresh in a transaction
                cursor.execute(waiting)
                if cursor.fetchone()[0]:
                    break
                time.sleep(0.05)
            else:
                pytest.fail("the second run never waited on the row")
    thread.join(10)
    assert second == [False]
    assert WebhookEndpoint.objects.get(pk=endpoint.pk).claimed_by == "run-1"
