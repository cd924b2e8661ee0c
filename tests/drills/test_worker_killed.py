"""Drill 2, worker killed: a worker SIGKILLed (its whole process group, as a crashed
machine) in the middle of evaluating exams, and in the middle of sending digests. After a
restart, the final state is the state of an undisturbed run: the same alerts, one e-mail
to each recipient.

The kill is made deterministic by holding the worker where the drill wants it: a
transaction of the test holds the alert the evaluation is about to insert (the worker
waits on the unique index), or the SMTP server holds the second message unanswered.

Last, the kill's look-alike: a worker that is alive but slower than CLAIM_TIMEOUT, whose
unsent rows the next run revives as if it were dead.
"""

import asyncio
import threading
from collections import Counter
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from followup.delivery import mailing
from followup.delivery.mailing import CLAIM_TIMEOUT
from followup.models import Alert, Checkpoint, Email, EmailStatus
from followup.tasks import refresh_surgeries, run_sweep, send_digests
from patients.models import Surgery
from tests.followup.conftest_mail import subscriber
from tests.smtp import SmtpServer

from . import scenario
from .servers import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def waiting_to_insert_alerts() -> int:
    """Sessions blocked on a lock while inserting alerts (the held cause's index entry)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND wait_event_type = 'Lock' AND query LIKE %s",
            [f'INSERT INTO "{Alert._meta.db_table}"%'],
        )
        return cursor.fetchone()[0]


def stale(ids) -> set[int]:
    return set(
        Surgery.objects.filter(pk__in=ids, plan__stale_since__isnull=False).values_list(
            "pk", flat=True
        )
    )


class HeldAlert(threading.Thread):
    """Inserts `alert` in a transaction left open until `release()`, then rolls it back:
    whoever inserts the same cause meanwhile waits on the unique index."""

    def __init__(self, alert: Alert) -> None:
        super().__init__(daemon=True)
        self.alert = alert
        self.inserted, self._release = threading.Event(), threading.Event()

    def run(self) -> None:
        try:
            with transaction.atomic():
                self.alert.save(force_insert=True)
                self.inserted.set()
                self._release.wait(60)
                transaction.set_rollback(True)
        finally:
            connection.close()

    def release(self) -> None:
        self._release.set()
        self.join(10)


def test_a_worker_killed_while_evaluating_ends_as_an_undisturbed_run(
    protocols, workers, monkeypatch
):
    calm, killed = scenario.clinic("calm"), scenario.clinic("killed")
    with monkeypatch.context() as muted:  # the records only; the drill sends the tasks
        muted.setattr("followup.pipeline.refresh.nudge", lambda task, *args: None)
        calm_ids, killed_ids = scenario.build_directly(calm), scenario.build_directly(killed)
    worker = workers.start()
    refresh_surgeries.apply_async((calm_ids,), queue=worker.queue).get(timeout=60)
    assert not stale(calm_ids)

    # The evaluation of the third surgery will insert its abscess alert: hold that cause.
    victim = Surgery.objects.get(pk=killed_ids[2])
    reference = Alert.objects.get(surgery__in=calm_ids, code="abscess")
    held = HeldAlert(Alert(clinic=killed, patient=victim.patient, surgery=victim, code="abscess",
                           subject=reference.subject, severity=reference.severity,
                           message="held by the drill"))  # fmt: skip
    held.start()
    assert held.inserted.wait(10)
    # One message for the six surgeries, as a bulk ingest sends it.
    refresh_surgeries.apply_async((killed_ids,), queue=worker.queue)
    wait_for(lambda: waiting_to_insert_alerts() > 0,
             what="the worker to reach the held alert")  # fmt: skip
    worker.kill()
    held.release()

    # What was committed is whole, what was not left nothing: the surgeries still marked
    # stale (the victim among them) have no checkpoint and no alert. The message is not
    # acknowledged: it comes back after the visibility timeout, and the sweep comes first.
    left = stale(killed_ids)
    assert victim.pk in left
    assert not Checkpoint.objects.filter(surgery__in=left).exists()
    assert not Alert.objects.filter(surgery__in=left).exists()
    restarted = workers.start(queue=worker.queue)
    run_sweep.apply_async(queue=restarted.queue).get(timeout=60)
    wait_for(lambda: scenario.settled(calm, killed), what="the sweep")

    scenario.assert_same_state(killed, calm)
    assert scenario.duplicates(killed) == []


class HoldingSmtp(SmtpServer):
    """An SMTP server that holds chosen messages (numbered from 1) unanswered until they
    are released, then accepts them (a slow server) or refuses them (their sender is
    gone: the message was never accepted)."""

    def __init__(self) -> None:
        super().__init__()
        self.hold: set[int] = set()
        self.accept_held = False
        self.reached: set[int] = set()
        self.released: set[int] = set()
        self.closing = False
        self._seen = 0

    async def handle_DATA(self, server, session, envelope) -> str:
        self._seen += 1
        number = self._seen
        if number in self.hold:
            self.reached.add(number)
            while number not in self.released and not self.closing:
                await asyncio.sleep(0.02)
            if not self.accept_held:
                return "451 Requested action aborted: local error in processing"
        return await super().handle_DATA(server, session, envelope)

    def wait_held(self, number: int) -> None:
        wait_for(lambda: number in self.reached, 60, f"message {number} to reach the server")


@pytest.fixture
def holding_smtp(settings):
    server = HoldingSmtp()
    server.start()
    settings.MAILERS = {"default": server.mailer}  # for the runs in this process
    yield server
    server.closing = True
    server.stop()


def zone_in_daytime() -> str:
    """A zone whose local hour is 1..22 now: the drill must not straddle a local midnight,
    which would change the day of the digests it sends."""
    for zone in ("Europe/Paris", "Asia/Tokyo", "America/New_York"):
        hour = timezone.localtime(timezone.now(), ZoneInfo(zone)).hour
        if 1 <= hour <= 22:
            return zone
    raise AssertionError("unreachable: those zones are 7 to 14 hours apart")


def subscribers(clinic, count: int) -> list[str]:
    return [subscriber(clinic, f"{clinic.slug}-{n}", urgent=False).email for n in range(count)]


def test_a_worker_killed_while_sending_digests_sends_each_once(workers, holding_smtp):
    zone = zone_in_daytime()
    smtp_env = {"EMAIL_HOST": holding_smtp.host, "EMAIL_PORT": str(holding_smtp.port)}
    worker = workers.start(**smtp_env)
    calm = scenario.clinic("calm", digest_hour=0)
    calm.timezone = zone
    calm.save()
    calm_to = subscribers(calm, 3)
    send_digests.apply_async(queue=worker.queue).get(timeout=60)
    assert sorted(m["To"] for m in holding_smtp.messages) == sorted(calm_to)

    killed = scenario.clinic("killed", digest_hour=0)
    killed.timezone = zone
    killed.save()
    killed_to = subscribers(killed, 3)
    holding_smtp.hold = {3 + 2}  # the killed clinic's second digest
    send_digests.apply_async(queue=worker.queue)
    holding_smtp.wait_held(3 + 2)
    worker.kill()
    holding_smtp.released.add(3 + 2)

    rows = Email.objects.filter(clinic=killed)
    assert sorted(rows.values_list("status", flat=True)) == ["sending", "sending", "sent"]
    restarted = workers.start(queue=worker.queue, **smtp_env)
    # Claimed rows are left alone while their claim is fresh: a slow worker may still be on them.
    assert send_digests.apply_async(queue=restarted.queue).get(timeout=60)["sent"] == 0
    # CLAIM_TIMEOUT later, the next run sends them.
    rows.filter(status=EmailStatus.SENDING).update(
        claimed_at=F("claimed_at") - CLAIM_TIMEOUT - timedelta(minutes=1)
    )
    assert send_digests.apply_async(queue=restarted.queue).get(timeout=60)["sent"] == 2

    received = sorted(m["To"] for m in holding_smtp.messages)
    assert received == sorted(calm_to + killed_to)  # one each, none lost, none twice
    ids = [m["Message-ID"] for m in holding_smtp.messages]
    assert len(set(ids)) == len(ids)
    assert set(Email.objects.values_list("status", flat=True)) == {EmailStatus.SENT}
    subjects = {
        m["Subject"].replace(killed.slug, calm.slug).replace(killed.name, calm.name)
        for m in holding_smtp.messages
    }
    assert len(subjects) == 1  # the same digest an undisturbed run sends


def deliver_and_close(now) -> None:
    try:
        mailing.deliver(now)
    finally:
        connection.close()


def test_a_run_slower_than_the_claim_timeout_and_the_next_run_send_each_once(holding_smtp):
    """Not a kill, its look-alike: a worker alive but slow (a sluggish SMTP server) while
    CLAIM_TIMEOUT passes. The next run revives the rows it has not reached yet, as it
    would a dead worker's; the slow run must then leave them to it, not send them again."""
    start = datetime(2026, 3, 10, 10, 0, tzinfo=ZoneInfo("Europe/Paris"))
    with time_machine.travel(start, tick=False) as clock:
        clinic = scenario.clinic("slow", digest_hour=0)
        recipients = subscribers(clinic, 4)
        mailing.queue_digests(start)
        holding_smtp.hold, holding_smtp.accept_held = {2, 3}, True
        slow = threading.Thread(target=deliver_and_close, args=(start,))
        slow.start()
        holding_smtp.wait_held(2)  # the second digest takes six minutes...
        clock.move_to(start + timedelta(minutes=6))
        holding_smtp.released.add(2)
        holding_smtp.wait_held(3)  # ... and the third five more
        clock.move_to(start + CLAIM_TIMEOUT + timedelta(minutes=1))
        mailing.deliver()  # the next run
        holding_smtp.released.add(3)
        slow.join(30)

    received = Counter(m["To"] for m in holding_smtp.messages)
    assert received == dict.fromkeys(recipients, 1)
    assert set(Email.objects.values_list("status", flat=True)) == {EmailStatus.SENT}
