"""Drill 3, duplicates: every task delivered twice (to two real workers at once, and once
more later), two beat processes for an hour of schedule, two sweeps at once. No alert,
e-mail or webhook may come twice, and none may be missing.

The two beats are simulated in this process: for each minute of the hour, under
time-machine, every task the real beat schedule (settings.CELERY_BEAT_SCHEDULE) has due
then runs twice, all at once in threads, as two beats feeding two workers would. Two
real `celery beat` processes would need an hour of wall time for the same schedule.
"""

import threading
from collections import Counter
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.conf import settings
from django.db import connection

from followup.celery import app
from followup.models import (
    Alert,
    Checkpoint,
    CheckpointDefinition,
    Email,
    EmailStatus,
    WebhookEndpoint,
)
from followup.models.alerts import AlertEvent
from followup.pipeline import refresh, sweep
from followup.tasks import (
    deliver_webhooks,
    notify_urgent,
    refresh_surgeries,
    run_sweep,
    send_digests,
)
from patients.models import Surgery
from tests import factories
from tests.followup.conftest_mail import smtp_server, subscriber  # noqa: F401 (fixture)
from tests.followup.integration.test_webhooks import Receiver
from tests.smtp import SmtpServer

from . import scenario
from .test_worker_killed import zone_in_daytime

pytestmark = pytest.mark.django_db(transaction=True)

PARIS = ZoneInfo("Europe/Paris")


@pytest.fixture
def receiver(settings):
    Receiver.allow(settings)
    receiver = Receiver()
    receiver.answer = 200
    receiver.start()
    yield receiver
    receiver.stop()


def watched_clinic(slug: str, receiver: Receiver, zone: str = "Europe/Paris", **fields):
    """A clinic with two subscribers (digest and urgent), an escalation address and a
    webhook receiver."""
    clinic = scenario.clinic(slug, digest_hour=0, escalation_email="oncall@example.org",
                             **fields)  # fmt: skip
    clinic.timezone = zone
    clinic.save()
    for name in ("ann", "ben"):
        subscriber(clinic, f"{slug}-{name}")
    WebhookEndpoint.objects.create(clinic=clinic, url=receiver.url)
    return clinic


def delivered_once(clinic, smtp: SmtpServer, receiver: Receiver) -> None:
    """Every e-mail of the outbox sent, each once; every alert event delivered once."""
    ids = Counter(m["Message-ID"] for m in smtp.messages)
    assert [i for i, n in ids.items() if n > 1] == []
    emails = Email.objects.filter(clinic=clinic)
    assert set(emails.values_list("status", flat=True)) == {EmailStatus.SENT}
    assert len(ids) == emails.count()
    events = Counter(call["event"]["id"] for call in receiver.calls)
    assert [e for e, n in events.items() if n > 1] == []
    expected = AlertEvent.objects.filter(pgh_obj__clinic=clinic).values_list("pgh_id", flat=True)
    assert sorted(events) == sorted(expected)
    assert scenario.duplicates(clinic) == []


def test_every_task_delivered_twice_to_two_workers(protocols, workers, smtp, receiver,
                                                   monkeypatch):  # fmt: skip
    clinic = watched_clinic("twice", receiver, zone_in_daytime(), escalation_after_minutes=0)
    with monkeypatch.context() as muted:  # the drill sends every message itself, twice
        muted.setattr("followup.pipeline.refresh.nudge", lambda task, *args: None)
        surgeries = scenario.build_directly(clinic)
    env = {"EMAIL_HOST": smtp.host, "EMAIL_PORT": str(smtp.port), **Receiver.ENV}
    first = workers.start(**env)
    workers.start(queue=first.queue, **env)

    def twice(task, *args) -> list:
        sent = [task.apply_async(args, queue=first.queue) for _ in range(2)]
        return [result.get(timeout=60) for result in sent]

    rounds = []
    # Later rounds: every message delivered again, late (the escalation, due at once, goes
    # in the second round: the first notices were recorded after its run began).
    for _ in range(3):
        rounds.append([
            twice(refresh_surgeries, surgeries), twice(run_sweep), twice(notify_urgent),
            twice(send_digests), twice(deliver_webhooks),
        ])  # fmt: skip

    assert scenario.settled(clinic)
    # Two urgent notices (abscess), one escalation, two digests: once each.
    kinds = Counter(Email.objects.filter(clinic=clinic).values_list("kind", flat=True))
    assert kinds == {"urgent": 2, "escalation": 1, "digest": 2}
    assert len(smtp.messages) == 5
    delivered_once(clinic, smtp, receiver)
    assert receiver.calls, "no webhook was delivered at all"
    assert scenario.finding_codes(clinic) >= set(scenario.CODES)
    # The last round found nothing left to do.
    assert [sum(r["sent"] for r in rounds[2][k]) for k in (2, 3)] == [0, 0]
    assert sum(rounds[2][4]) == 0


# --- Two beats -------------------------------------------------------------------------

# The hour runs over a local midnight in Paris: checkpoints fall overdue at midnight, and
# the clinic's digest (digest hour 0) is due for two local days.
MIDNIGHT = datetime(2026, 3, 10, 0, 0, tzinfo=PARIS)
START = MIDNIGHT - timedelta(minutes=30)


def due(entry: dict, at: datetime) -> bool:
    """Whether a crontab entry of the beat schedule fires at this minute (UTC)."""
    schedule, utc = entry["schedule"], at.astimezone(ZoneInfo(settings.CELERY_TIMEZONE))
    return (
        utc.minute in schedule.minute
        and utc.hour in schedule.hour
        and utc.isoweekday() % 7 in schedule.day_of_week
        and utc.day in schedule.day_of_month
        and utc.month in schedule.month_of_year
    )


def run_together(calls) -> list:
    """Each call in its own thread (its own database connection), all started at once."""
    start, results, errors = threading.Barrier(len(calls)), [None] * len(calls), []

    def run(index, call):
        try:
            start.wait(10)
            results[index] = call()
        except Exception as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    return results


def falling_due_at_midnight(clinic) -> list[int]:
    """A fusion for each exam checkpoint of the protocol, operated so that the checkpoint
    falls overdue at MIDNIGHT; its earlier checkpoints are overdue already."""
    surgeries = []
    for definition in CheckpointDefinition.objects.filter(
        protocol__family="fusion", protocol__clinic__isnull=True, kind="exam"
    ):
        day0 = MIDNIGHT.date() - timedelta(days=definition.due_day + 1 + definition.grace_days)
        at = datetime.combine(day0, datetime.min.time(), tzinfo=PARIS) + timedelta(hours=9)
        surgeries.append(factories.surgery(factories.patient(clinic), at).pk)
    return surgeries


def test_two_beats_for_an_hour_send_everything_once(protocols, smtp, receiver, monkeypatch):
    # No broker here.
    monkeypatch.setattr("followup.pipeline.refresh.nudge", lambda task, *args: None)
    tasks = {name: app.tasks[name] for name in
             {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}}  # fmt: skip
    with time_machine.travel(START - timedelta(hours=1), tick=False):
        clinic = watched_clinic("beats", receiver, escalation_after_minutes=30)
        urgent = scenario.build_directly(clinic, ["abscess", "screw_loosening"])
        at_midnight = falling_due_at_midnight(clinic)

    runs = Counter()
    for minute in range(61):
        at = START + timedelta(minutes=minute)
        names = [e["task"] for e in settings.CELERY_BEAT_SCHEDULE.values() if due(e, at)]
        with time_machine.travel(at, tick=False):
            run_together([tasks[name] for name in names for _beat in range(2)])
        runs.update(names)
    assert (runs["followup.tasks.run_sweep"], runs["followup.tasks.notify_urgent"]) == (13, 61)

    # Everything happened, once: the checkpoints that fell due at midnight are alerted...
    assert not Surgery.objects.filter(pk__in=urgent + at_midnight,
                                      plan__stale_since__isnull=False).exists()  # fmt: skip
    # (a PROM time point may fall due then too: the sweep owes it no alert)
    midnight = Checkpoint.objects.filter(surgery__in=at_midnight, overdue_at=MIDNIGHT, kind="exam")
    assert midnight.count() == len(at_midnight)
    for checkpoint in midnight:
        assert checkpoint.alerts.count() == 1
        assert checkpoint.overdue_since == MIDNIGHT  # by the midnight sweep, not later
    # ... two digests for each subscriber (the 9th and the 10th), two urgent notices and,
    # 30 minutes after them, one escalation.
    mail = Counter((e.kind, e.recipient, e.local_date) for e in Email.objects.filter(clinic=clinic))
    assert mail == {
        ("digest", "beats-ann@example.org", MIDNIGHT.date() - timedelta(days=1)): 1,
        ("digest", "beats-ben@example.org", MIDNIGHT.date() - timedelta(days=1)): 1,
        ("digest", "beats-ann@example.org", MIDNIGHT.date()): 1,
        ("digest", "beats-ben@example.org", MIDNIGHT.date()): 1,
        ("urgent", "beats-ann@example.org", None): 1,
        ("urgent", "beats-ben@example.org", None): 1,
        ("escalation", "oncall@example.org", None): 1,
    }
    assert len(smtp.messages) == 7
    delivered_once(clinic, smtp, receiver)


# --- Two sweeps ------------------------------------------------------------------------


def test_two_sweeps_at_once_raise_each_alert_once(protocols, monkeypatch):
    # No broker here.
    monkeypatch.setattr("followup.pipeline.refresh.nudge", lambda task, *args: None)
    clinic = scenario.clinic("sweeps")
    now = datetime(2026, 3, 10, 12, 0, tzinfo=PARIS)
    ids = [factories.surgery(factories.patient(clinic), now - timedelta(days=500 + n)).pk
           for n in range(40)]  # fmt: skip
    for surgery_id in ids[:20]:  # half planned already, half still stale
        refresh.refresh(surgery_id, now - timedelta(days=1))

    results = run_together([lambda: sweep.run(now), lambda: sweep.run(now)])

    overdue = Checkpoint.objects.filter(surgery__in=ids, overdue_at__lte=now).exclude(
        kind__in=["milestone", "prom"]  # owed no alert: PROMs are the patient's to answer
    )
    assert overdue.count() == 40 * 3  # baseline, bridging and fusion films
    assert not overdue.filter(overdue_since__isnull=True).exists()
    raised = Counter(Alert.objects.filter(clinic=clinic).values_list("checkpoint_id", flat=True))
    assert raised == dict.fromkeys(overdue.values_list("pk", flat=True), 1)
    assert sum(result.alerts for result in results) == len(raised)
    assert sum(result.refreshed for result in results) >= 20
    assert not Surgery.objects.filter(pk__in=ids, plan__stale_since__isnull=False).exists()
    assert scenario.duplicates(clinic) == []
