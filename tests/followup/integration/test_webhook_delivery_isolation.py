"""One slow receiver cannot hold the others, the database, or the clinic's neighbours:
no transaction or row lock while a delivery waits on the network, a circuit breaker, a
run's time budget, a revoked client's receivers, and a new receiver's cursor. On
loopback only."""

import threading
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection, connections
from django.utils import timezone

from followup.delivery import webhooks
from followup.models import WebhookDelivery, WebhookEndpoint
from followup.models.alerts import AlertEvent
from patients.models import ApiClient
from tests.api import post

from .test_outbound_ssrf import Trickler
from .test_webhooks import Receiver, make_alert, register

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=ZoneInfo("Europe/Paris"))


@pytest.fixture
def receiver(settings):
    Receiver.allow(settings)
    receiver = Receiver()
    yield receiver
    receiver.stop()


class HoldingReceiver(Receiver):
    """Takes each request and answers only when `release` is set (200)."""

    def __init__(self) -> None:
        super().__init__()
        self.holding, self.release = threading.Event(), threading.Event()

    def start(self) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                server.holding.set()
                server.release.wait(20)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
                server.calls.append({"status": 200})

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def in_thread(function):
    """Run `function` in a thread with its own database connection, closed after."""
    outcome = {}

    def run():
        try:
            outcome["value"] = function()
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


@pytest.mark.django_db(transaction=True)
def test_no_transaction_nor_row_lock_is_held_while_a_delivery_waits(clinic_a, settings):
    Receiver.allow(settings)
    slow = HoldingReceiver()
    slow.start()
    endpoint = WebhookEndpoint.objects.create(clinic=clinic_a, url=slow.url)
    make_alert(clinic_a)
    try:
        thread, outcome = in_thread(webhooks.deliver)
        assert slow.holding.wait(10), "the delivery never reached the receiver"

        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pid, state FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%%'"
            )
            assert cursor.fetchall() == [], "a transaction is open while waiting on the network"
            cursor.execute("SET lock_timeout = '1s'")
            # Raises if the delivery holds the endpoint's row (LockNotAvailable).
            cursor.execute(
                f"SELECT id FROM {WebhookEndpoint._meta.db_table} WHERE id = %s FOR UPDATE NOWAIT",
                [endpoint.pk],
            )
    finally:
        slow.release.set()
        thread.join(20)
        slow.stop()
    assert outcome["value"] == 1


@pytest.mark.django_db
def test_the_circuit_opens_after_failures_in_a_row_and_half_opens_after_the_cool_down(
    clinic_a, receiver, settings
):
    settings.WEBHOOK_BREAKER_THRESHOLD = 3
    settings.WEBHOOK_BREAKER_COOLDOWN = timedelta(minutes=20)
    receiver.answer = 500
    receiver.start()
    with time_machine.travel(T0, tick=False) as clock:
        endpoint = WebhookEndpoint.objects.create(clinic=clinic_a, url=receiver.url)
        for _ in range(4):
            make_alert(clinic_a)

        for failures in (1, 2, 3):
            assert webhooks.deliver() == 0
            endpoint.refresh_from_db()
            assert endpoint.consecutive_failures == failures
            assert not webhooks.circuit_open(endpoint) or failures == 3
            clock.move_to(endpoint.next_attempt_at)
        # Open: the third failure waits the cool-down, not the backoff's 2 minutes.
        opened = WebhookDelivery.objects.latest("id").at
        assert endpoint.next_attempt_at - opened == timedelta(minutes=20)
        assert webhooks.circuit_open(endpoint)
        clock.move_to(opened + timedelta(minutes=19))
        assert webhooks.deliver() == 0
        assert len(receiver.calls) == 3  # nothing sent while open

        # Half-open: one trial; it fails, so the circuit opens again for the cool-down.
        clock.move_to(opened + timedelta(minutes=20))
        webhooks.deliver()
        assert len(receiver.calls) == 4
        endpoint.refresh_from_db()
        assert endpoint.next_attempt_at == opened + timedelta(minutes=40)

        # The trial gets through: closed, and the rest follows.
        receiver.answer = 200
        clock.move_to(endpoint.next_attempt_at)
        assert webhooks.deliver() == 4
        endpoint.refresh_from_db()
        assert (endpoint.consecutive_failures, endpoint.next_attempt_at) == (0, None)


@pytest.mark.django_db
def test_a_run_stops_taking_deliveries_when_its_budget_is_nearly_spent(clinic_a, settings):
    Receiver.allow(settings)
    settings.WEBHOOK_TIMEOUT = 1
    tricklers = [Trickler() for _ in range(3)]
    try:
        endpoints = [WebhookEndpoint.objects.create(clinic=clinic_a, url=t.url) for t in tricklers]
        make_alert(clinic_a)

        started = time.monotonic()
        webhooks.deliver(budget=2.5)
        took = time.monotonic() - started
    finally:
        for trickler in tricklers:
            trickler.stop()

    assert took < 3.5
    tried = set(WebhookDelivery.objects.values_list("endpoint_id", flat=True))
    assert tried == {endpoints[0].pk, endpoints[1].pk}  # the third is left to the next run
    assert set(WebhookDelivery.objects.values_list("error", flat=True)) == {"timeout"}
    assert not WebhookEndpoint.objects.exclude(claimed_by="").exists()  # recorded, released
    left = WebhookEndpoint.objects.get(pk=endpoints[2].pk)
    assert (left.last_event_id, left.in_flight_event_id, left.next_attempt_at) == (
        endpoints[2].last_event_id, None, None,
    )  # fmt: skip


@pytest.mark.django_db
def test_an_event_left_in_flight_by_a_dead_run_goes_again_with_its_id_and_a_trace(
    clinic_a, receiver
):
    receiver.answer = 200
    receiver.start()
    endpoint = WebhookEndpoint.objects.create(clinic=clinic_a, url=receiver.url)
    alert = make_alert(clinic_a)
    event = AlertEvent.objects.get(pgh_obj=alert)
    # What a run killed while waiting on the receiver leaves behind.
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        claimed_by="dead-run", claimed_at=timezone.now() - timedelta(seconds=30),
        in_flight_event_id=event.pgh_id,
    )  # fmt: skip

    assert webhooks.deliver() == 0  # its claim is still fresh: the run might be alive
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        claimed_at=timezone.now() - webhooks.CLAIM_LEASE - timedelta(seconds=1)
    )
    assert webhooks.deliver() == 1

    [call] = receiver.calls
    assert call["headers"]["X-Followup-Delivery"] == str(event.pgh_id)
    assert call["headers"]["X-Followup-Attempt"] == "2"
    log = WebhookDelivery.objects.filter(endpoint=endpoint).order_by("id")
    assert [(d.attempt, d.delivered, d.error) for d in log] == [
        (1, False, webhooks.INTERRUPTED), (2, True, ""),
    ]  # fmt: skip
    endpoint.refresh_from_db()
    assert (endpoint.in_flight_event_id, endpoint.claimed_by) == (None, "")


@pytest.mark.django_db
def test_a_revoked_clients_receivers_get_nothing(hooks_a, clinic_a, receiver, monkeypatch):
    receiver.answer = 200
    receiver.start()
    endpoint, _ = register(hooks_a, receiver.url)
    make_alert(clinic_a)

    # Revoked by a path that sends no signal (a queryset update): delivery still skips it.
    ApiClient.objects.filter(pk=hooks_a.client.pk).update(revoked_at=timezone.now())
    assert webhooks.deliver() == 0
    assert receiver.calls == []

    # Revoked through revoke(): the receiver is disabled as well.
    ApiClient.objects.filter(pk=hooks_a.client.pk).update(revoked_at=None)
    hooks_a.client.refresh_from_db()
    hooks_a.client.revoke()
    endpoint.refresh_from_db()
    assert not endpoint.active
    assert webhooks.deliver() == 0
    assert receiver.calls == []


@pytest.mark.django_db
def test_a_new_receivers_cursor_tells_nothing_of_other_clinics(hooks_a, clinic_a, clinic_b):
    """B's alerts are none of A's business, not even how many there are."""
    for _ in range(3):
        make_alert(clinic_b)
    url = "https://ehr.example.org/hooks"  # never called here

    # A clinic with no alert yet starts at 0, whatever the others have.
    assert post(hooks_a, "/api/v1/webhooks/", {"url": url}).json()["last_event_id"] == 0
    ours = make_alert(clinic_a)
    make_alert(clinic_b)
    answer = post(hooks_a, "/api/v1/webhooks/", {"url": url})

    assert answer.status_code == 201
    assert answer.json()["last_event_id"] == AlertEvent.objects.get(pgh_obj=ours).pgh_id
