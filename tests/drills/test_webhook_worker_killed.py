"""Drill: the webhook delivery's worker SIGKILLed (its whole process group) in the middle
of a run, on loopback only.

1. While it waits on the receiver for the third of five events (the receiver holds the
   request and never answers it): the two events answered before are never sent again,
   and the third goes again with the same `X-Followup-Delivery` once the dead run's
   claim has lapsed: every event answered 2xx exactly once.
2. After the receiver's 2xx and before the answer is recorded (the drill holds the
   endpoint's row so that the record waits): the one event goes again, with the same
   `X-Followup-Delivery` and a higher `X-Followup-Attempt`, which is what a receiver
   deduplicates on (docs/reliability.md); every other event once.
"""

import json
import threading
from collections import Counter
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg
import pytest
from django.db import connection

from followup.delivery import webhooks
from followup.models import WebhookDelivery, WebhookEndpoint
from followup.models.alerts import AlertEvent
from followup.tasks import deliver_webhooks
from tests.followup.integration.test_webhooks import Receiver, make_alert
from tests.worker import database_url

from .servers import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


class HoldingReceiver(Receiver):
    """Answers 200, except call number `hold` (1-based): it signals `held`, waits for
    `release`, then answers 200 if `answer_held` else closes without an answer."""

    def __init__(self, hold: int, answer_held: bool) -> None:
        super().__init__()
        self.hold, self.answer_held = hold, answer_held
        self.held, self.release = threading.Event(), threading.Event()
        self.answered: list[int] = []

    def start(self) -> None:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                server.calls.append({"headers": dict(self.headers), "event": json.loads(body)})
                if len(server.calls) == server.hold:
                    server.held.set()
                    server.release.wait(60)
                    if not server.answer_held:
                        self.close_connection = True
                        return  # never answered: the sender never saw a 2xx
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
                server.answered.append(json.loads(body)["id"])

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def muted(monkeypatch):
    monkeypatch.setattr("followup.pipeline.refresh.nudge", lambda task, *args: None)


def five_events(clinic, receiver) -> tuple[WebhookEndpoint, list[int]]:
    endpoint = WebhookEndpoint.objects.create(clinic=clinic, url=receiver.url)
    alerts = [make_alert(clinic) for _ in range(5)]
    ids = sorted(AlertEvent.objects.filter(pgh_obj__in=alerts).values_list("pgh_id", flat=True))
    return endpoint, ids


def lapse_the_dead_runs_claim(endpoint) -> None:
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        claimed_at=endpoint.claimed_at - webhooks.CLAIM_LEASE - timedelta(seconds=1)
    )


def deliveries(receiver) -> Counter:
    return Counter(int(call["headers"]["X-Followup-Delivery"]) for call in receiver.calls)


def test_killed_while_waiting_on_the_receiver(clinic_a, workers, muted):
    receiver = HoldingReceiver(hold=3, answer_held=False)
    receiver.start()
    endpoint, ids = five_events(clinic_a, receiver)
    worker = workers.start(**Receiver.ENV)

    deliver_webhooks.apply_async(queue=worker.queue)
    assert receiver.held.wait(60), "the third event never reached the receiver"
    worker.kill()
    receiver.release.set()

    endpoint.refresh_from_db()
    assert (endpoint.last_event_id, endpoint.in_flight_event_id) == (ids[1], ids[2])
    delivered = WebhookDelivery.objects.filter(delivered=True)
    assert sorted(delivered.values_list("event_id", flat=True)) == ids[:2]

    lapse_the_dead_runs_claim(endpoint)
    restarted = workers.start(queue=worker.queue, **Receiver.ENV)
    assert deliver_webhooks.apply_async(queue=restarted.queue).get(timeout=60) == 3
    receiver.stop()

    assert sorted(receiver.answered) == ids  # every event answered 2xx exactly once
    assert deliveries(receiver) == Counter({**dict.fromkeys(ids, 1), ids[2]: 2})
    again = [c for c in receiver.calls if c["headers"]["X-Followup-Delivery"] == str(ids[2])]
    assert [c["headers"]["X-Followup-Attempt"] for c in again] == ["1", "2"]
    assert WebhookDelivery.objects.filter(event_id=ids[2], error=webhooks.INTERRUPTED).exists()
    endpoint.refresh_from_db()
    assert (endpoint.last_event_id, endpoint.in_flight_event_id) == (ids[-1], None)


def waiting_on_a_lock() -> bool:
    """The worker's record (the log row's foreign key, then the endpoint's UPDATE) waits."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0] > 0


def test_killed_after_the_receivers_2xx_before_the_record(clinic_a, workers, muted):
    receiver = HoldingReceiver(hold=3, answer_held=True)
    receiver.start()
    endpoint, ids = five_events(clinic_a, receiver)
    table = WebhookEndpoint._meta.db_table
    worker = workers.start(**Receiver.ENV)

    deliver_webhooks.apply_async(queue=worker.queue)
    assert receiver.held.wait(60), "the third event never reached the receiver"
    # The drill holds the endpoint's row: the worker can send, not record.
    with psycopg.connect(database_url(), autocommit=False) as holder:
        holder.execute("SET lock_timeout = '10s'")
        holder.execute(f"SELECT id FROM {table} WHERE id = %s FOR UPDATE", [endpoint.pk])
        receiver.release.set()  # the 2xx goes out
        wait_for(waiting_on_a_lock, 30, "the worker's record, blocked")
        worker.kill()
        holder.rollback()

    endpoint.refresh_from_db()
    assert (endpoint.last_event_id, endpoint.in_flight_event_id) == (ids[1], ids[2])
    assert receiver.answered == ids[:3]  # the third was answered, its record died

    lapse_the_dead_runs_claim(endpoint)
    restarted = workers.start(queue=worker.queue, **Receiver.ENV)
    assert deliver_webhooks.apply_async(queue=restarted.queue).get(timeout=60) == 3
    receiver.stop()

    # Sent twice, the one event: the same delivery id, a higher attempt.
    assert deliveries(receiver) == Counter({**dict.fromkeys(ids, 1), ids[2]: 2})
    again = [c for c in receiver.calls if c["headers"]["X-Followup-Delivery"] == str(ids[2])]
    assert [c["headers"]["X-Followup-Attempt"] for c in again] == ["1", "2"]
    assert len(set(deliveries(receiver))) == 5  # deduplicated on the id: each event once
