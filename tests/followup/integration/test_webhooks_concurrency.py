"""Events committed out of id order: an alert change whose transaction is still open when
a later one commits must not be skipped by the delivery cursor.

Transactional: the two changes commit for real, on two connections.
"""

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from followup.delivery import webhooks
from followup.models import Alert, Severity, WebhookEndpoint
from followup.models.alerts import AlertCode
from followup.pipeline import alerts_lifecycle
from tests import factories

from .test_webhooks import Receiver

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def no_broker(monkeypatch):
    monkeypatch.setattr("followup.pipeline.refresh.nudge", lambda task, *args: None)


@pytest.fixture
def receiver(settings):
    Receiver.allow(settings)
    receiver = Receiver()
    receiver.answer = 200
    receiver.start()
    yield receiver
    receiver.stop()


def make_alert(clinic, subject: str) -> Alert:
    surgery = factories.surgery(factories.patient(clinic), timezone.now() - timedelta(days=60))
    return Alert.objects.create(
        clinic=clinic, patient=surgery.patient, surgery=surgery, code=AlertCode.SCREW_LOOSENING,
        severity=Severity.HIGH, subject=subject, message="Loosening",
    )  # fmt: skip


def wait_until(condition, seconds: float = 5) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)  # a bounded wait for another thread, not for the clock
    return False


def lock_waiters() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0]


def test_an_event_committed_after_a_later_one_is_still_delivered(clinic_a, receiver):
    WebhookEndpoint.objects.create(clinic=clinic_a, url=receiver.url, secret="s" * 64)
    x, y = make_alert(clinic_a, "x"), make_alert(clinic_a, "y")
    assert webhooks.deliver() == 2
    changed, release = threading.Event(), threading.Event()

    def slow_change() -> None:  # x is acknowledged first, but commits last
        try:
            with transaction.atomic():
                alerts_lifecycle.acknowledge(Alert.objects.get(pk=x.pk), None, timezone.now())
                changed.set()
                release.wait(10)
        finally:
            connection.close()

    slow = threading.Thread(target=slow_change)
    slow.start()
    assert changed.wait(10)
    alerts_lifecycle.acknowledge(y, None, timezone.now())  # committed at once

    def deliver_meanwhile() -> None:
        try:
            webhooks.deliver()
        finally:
            connection.close()

    delivery = threading.Thread(target=deliver_meanwhile)
    delivery.start()
    wait_until(lambda: lock_waiters() > 0 or not delivery.is_alive(), seconds=2)
    release.set()
    slow.join(10)
    delivery.join(10)
    webhooks.deliver()

    acknowledged = [e["alert"]["id"] for e in receiver.accepted() if e["type"] != "alert.raised"]
    assert acknowledged == [x.pk, y.pk]
