"""/healthz stays cheap and open; /healthz/deep says whether the work gets done: how old
the last sweep and the last beat heartbeat are, and whether each queue has a worker.
It names processes, not patients, and still answers only staff or the monitor's token."""

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone
from rest_framework.test import APIClient

from followup import health, tasks
from followup.celery import app, queue_names
from tests.followup.conftest import protocols  # noqa: F401 (the sweep needs the defaults)
from tests.worker import Worker

DEEP = "/healthz/deep"
MONITOR_TOKEN = "a-monitoring-token-of-some-length-0123456789"


@pytest.fixture(autouse=True)
def no_heartbeat_yet(db):
    cache.delete_many([health._key(health.SWEEP), health._key(health.BEAT)])
    yield
    cache.delete_many([health._key(health.SWEEP), health._key(health.BEAT)])


@pytest.fixture
def monitor(settings):
    settings.HEALTHZ_TOKEN = MONITOR_TOKEN
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {MONITOR_TOKEN}")
    return api


def test_healthz_stays_cheap_and_open(anonymous, monkeypatch):
    def no_broadcast(*args, **kwargs):
        raise AssertionError("/healthz must not ask the workers")

    monkeypatch.setattr(app.control, "inspect", no_broadcast)
    response = anonymous.api.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": True, "redis": True}


def test_deep_answers_staff_or_the_monitors_token_only(
    settings, anonymous, integration_a, viewer_a, monitor
):
    settings.HEALTHZ_TOKEN = ""
    assert anonymous.api.get(DEEP).status_code == 403
    assert integration_a.api.get(DEEP).status_code == 403  # an API token is not enough
    monitor_without_a_token_set = monitor.get(DEEP)
    assert monitor_without_a_token_set.status_code == 403
    settings.HEALTHZ_TOKEN = MONITOR_TOKEN
    assert monitor.get(DEEP).status_code in (200, 503)
    wrong = APIClient()
    wrong.credentials(HTTP_AUTHORIZATION="Bearer " + MONITOR_TOKEN[:-1])
    assert wrong.get(DEEP).status_code == 403
    assert viewer_a.api.get(DEEP).status_code in (200, 503)


def test_without_workers_or_heartbeats_deep_says_degraded(monitor):
    response = monitor.get(DEEP)
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded" and body["database"] and body["redis"]
    assert body["heartbeats"]["sweep"] == {"last": None, "age_seconds": None, "ok": False}
    assert body["heartbeats"]["beat"]["ok"] is False
    assert body["queues"] == dict.fromkeys(queue_names().values(), False)


def test_heartbeats_say_how_old_the_last_sweep_and_beat_are(monitor, protocols):  # noqa: F811
    tasks.run_sweep()  # what beat sends every 5 minutes: it records its own heartbeat
    health.record_heartbeat(health.BEAT, timezone.now() - timedelta(minutes=10))
    beats = monitor.get(DEEP).json()["heartbeats"]
    assert beats["sweep"]["ok"] is True and beats["sweep"]["age_seconds"] < 60
    assert beats["beat"]["ok"] is False and beats["beat"]["age_seconds"] >= 600


def test_with_a_worker_on_every_queue_and_beat_ticking_deep_says_ok(celery_worker_process, monitor):
    # Sent as beat sends it: routed to the urgent queue of the worker's family.
    tasks.beat_tick.apply_async().get(timeout=60)
    health.record_heartbeat(health.SWEEP)
    response = monitor.get(DEEP)
    body = response.json()
    assert body["queues"] == dict.fromkeys(celery_worker_process.queues, True), body
    assert body["heartbeats"]["beat"]["ok"] is True
    assert response.status_code == 200 and body["status"] == "ok"


def test_a_queue_without_its_worker_is_named(celery_worker_process, monitor):
    lonely = Worker()  # a family of queues with nobody listening
    kept = app.conf.task_default_queue
    app.conf.task_default_queue = lonely.queue
    try:
        queues = monitor.get(DEEP).json()["queues"]
    finally:
        app.conf.task_default_queue = kept
    assert queues == dict.fromkeys(lonely.queues, False)
