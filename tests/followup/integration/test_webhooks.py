"""Alert webhooks to a receiver on 127.0.0.1: signed, each event once, in order, after the
receiver was down for a while (not listening, then answering 503), with a backoff."""

import hashlib
import hmac
import json
import socket
import threading
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import count, pairwise
from zoneinfo import ZoneInfo

import pytest
import time_machine

from followup.delivery import webhooks
from followup.models import Alert, Severity, WebhookDelivery, WebhookEndpoint
from followup.models.alerts import AlertCode, AlertEvent
from tests import factories
from tests.api import post
from tests.conftest import persona_with

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=ZoneInfo("Europe/Paris"))
_subjects = count(1)


class Receiver:
    """An HTTP server in a thread that answers `self.answer` and remembers every call.

    It listens on 127.0.0.1 over plain http: the settings that allow it (off by default,
    followup/outbound.py), for this process with `allow(settings)` and for a worker's
    environment with `ENV`."""

    ENV = {"WEBHOOK_ALLOW_HTTP": "true", "WEBHOOK_ALLOW_PRIVATE_NETWORKS": "true"}

    @staticmethod
    def allow(settings) -> None:
        settings.WEBHOOK_ALLOW_HTTP = settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True

    def __init__(self) -> None:
        with socket.socket() as probe:  # a free port, not listening until start()
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.answer = 503
        self.calls: list[dict] = []
        self.server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/followup"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status = receiver.answer
                receiver.calls.append({"status": status, "headers": dict(self.headers),
                                       "body": body, "event": json.loads(body)})  # fmt: skip
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def accepted(self) -> list[dict]:
        return [call["event"] for call in self.calls if call["status"] == 200]


@pytest.fixture
def receiver(settings):
    Receiver.allow(settings)
    receiver = Receiver()
    yield receiver
    receiver.stop()


@pytest.fixture
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def make_alert(clinic) -> Alert:
    surgery = factories.surgery(factories.patient(clinic), T0 - timedelta(days=60))
    return Alert.objects.create(
        clinic=clinic, patient=surgery.patient, surgery=surgery, code=AlertCode.SCREW_LOOSENING,
        severity=Severity.HIGH, subject=f"L5:left:{next(_subjects)}", message="Loosening",
    )  # fmt: skip


def register(persona, url: str) -> tuple[WebhookEndpoint, str]:
    response = post(persona, "/api/v1/webhooks/", {"url": url})
    assert response.status_code == 201, response.content
    return WebhookEndpoint.objects.get(pk=response.json()["id"]), response.json()["secret"]


def verify(call: dict, secret: str) -> int:
    """The signature checked as a receiver would; returns its time."""
    fields = dict(part.split("=", 1) for part in call["headers"]["X-Followup-Signature"].split(","))
    signed = f"{fields['t']}.".encode() + call["body"]
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(fields["v1"], expected)
    return int(fields["t"])


def test_a_receiver_down_for_a_while_gets_every_event_once_in_order_signed(
    hooks_a, clinic_a, clinic_b, receiver, clock
):
    make_alert(clinic_a)  # before the registration: not sent
    endpoint, secret = register(hooks_a, receiver.url)
    x, y = make_alert(clinic_a), make_alert(clinic_a)
    make_alert(clinic_b)  # another clinic's: never sent to A
    for action, body in (("acknowledge", {}), ("resolve", {"note": "Revised: stable"})):
        answer = post(hooks_a, f"/api/v1/alerts/{x.pk}/{action}/", body)
        assert answer.status_code == 200, answer.content

    # Not listening: the attempt is logged and the next one waits 30 s.
    assert webhooks.deliver() == 0
    endpoint.refresh_from_db()
    assert endpoint.next_attempt_at == T0 + timedelta(seconds=30)
    clock.shift(timedelta(seconds=20))
    assert webhooks.deliver() == 0
    assert WebhookDelivery.objects.count() == 1

    # Listening but failing (503): the backoff doubles.
    receiver.start()
    clock.move_to(T0 + timedelta(seconds=30))
    assert webhooks.deliver() == 0
    endpoint.refresh_from_db()
    assert endpoint.next_attempt_at == T0 + timedelta(seconds=90)
    clock.move_to(T0 + timedelta(seconds=89))
    assert webhooks.deliver() == 0
    assert len(receiver.calls) == 1

    # Back: everything that happened meanwhile, in order.
    receiver.answer = 200
    clock.move_to(T0 + timedelta(seconds=90))
    assert webhooks.deliver() == 4
    clock.shift(timedelta(hours=1))
    assert webhooks.deliver() == 0

    events = receiver.accepted()
    assert [(e["type"], e["alert"]["id"]) for e in events] == [
        ("alert.raised", x.pk), ("alert.raised", y.pk),
        ("alert.acknowledged", x.pk), ("alert.resolved", x.pk),
    ]  # fmt: skip
    assert [e["alert"]["status"] for e in events] == ["open", "open", "acknowledged", "resolved"]
    ids = [e["id"] for e in events]
    assert ids == sorted(ids) and len(set(ids)) == 4
    assert set(ids) == set(
        AlertEvent.objects.filter(pgh_obj__clinic=clinic_a, pgh_id__gt=ids[0] - 1)
        .values_list("pgh_id", flat=True)
    )  # fmt: skip
    for call in receiver.calls:
        assert call["headers"]["X-Followup-Event"] == call["event"]["type"]
        assert call["headers"]["X-Followup-Delivery"] == str(call["event"]["id"])
        assert call["headers"]["Content-Type"] == "application/json"
        assert verify(call, secret) <= int((T0 + timedelta(seconds=90)).timestamp())
    assert verify(receiver.calls[-1], secret) == int((T0 + timedelta(seconds=90)).timestamp())

    log = WebhookDelivery.objects.filter(endpoint=endpoint, event_id=ids[0]).order_by("id")
    assert [(d.attempt, d.status_code, d.delivered) for d in log] == [
        (1, None, False), (2, 503, False), (3, 200, True)
    ]  # fmt: skip
    assert "refused" in log[0].error.lower()
    assert WebhookDelivery.objects.filter(delivered=True).count() == 4
    endpoint.refresh_from_db()
    assert endpoint.last_event_id == ids[-1]
    assert (endpoint.failing_since, endpoint.next_attempt_at) == (None, None)

    # A later event goes alone, once.
    post(hooks_a, f"/api/v1/alerts/{y.pk}/acknowledge/", {})
    assert webhooks.deliver() == 1
    assert webhooks.deliver() == 0
    assert [e["type"] for e in receiver.accepted()[4:]] == ["alert.acknowledged"]


def test_an_event_failing_for_a_day_is_given_up_and_the_next_one_goes(
    hooks_a, clinic_a, receiver, clock
):
    endpoint, secret = register(hooks_a, receiver.url)
    first, second = make_alert(clinic_a), make_alert(clinic_a)
    receiver.start()

    for _ in range(100):
        webhooks.deliver()
        endpoint.refresh_from_db()
        if WebhookDelivery.objects.filter(gave_up=True).exists():
            break
        clock.move_to(endpoint.next_attempt_at)
    tries = list(WebhookDelivery.objects.filter(alert_id=first.pk).order_by("id"))
    gaps = [b.at - a.at for a, b in pairwise(tries)]
    assert gaps == [webhooks.backoff(n) for n in range(1, len(tries))]
    assert gaps[-1] == timedelta(hours=1)  # the cap
    assert [t.gave_up for t in tries] == [False] * (len(tries) - 1) + [True]
    assert tries[-1].at - T0 >= timedelta(days=1) > tries[-2].at - T0

    # The next event was tried right after; it goes as soon as the receiver is back.
    assert WebhookDelivery.objects.filter(alert_id=second.pk, delivered=False).count() == 1
    receiver.answer = 200
    clock.move_to(endpoint.next_attempt_at)
    assert webhooks.deliver() == 1
    assert [(e["alert"]["id"], e["type"]) for e in receiver.accepted()] == [
        (second.pk, "alert.raised")
    ]
    assert all(verify(call, secret) for call in receiver.calls)


def test_the_secret_is_shown_once_at_registration(hooks_a):
    response = post(hooks_a, "/api/v1/webhooks/", {"url": "https://ehr.example.org/hooks"})
    pk, secret = response.json()["id"], response.json()["secret"]

    assert len(secret) == 64 and int(secret, 16) >= 0
    assert secret == WebhookEndpoint.objects.get(pk=pk).secret
    shown = [
        hooks_a.api.get(f"/api/v1/webhooks/{pk}/").content,
        hooks_a.api.get("/api/v1/webhooks/").content,
        hooks_a.api.patch(f"/api/v1/webhooks/{pk}/", {"active": True}, format="json").content,
    ]
    assert all(b"secret" not in body and secret.encode() not in body for body in shown)


def test_a_registration_is_refused_a_non_http_url(hooks_a):
    response = post(hooks_a, "/api/v1/webhooks/", {"url": "ftp://ehr.example.org/hooks"})

    assert response.status_code == 400
    assert "url" in response.json()


def test_another_clinics_endpoint_does_not_exist(hooks_a, clinic_b):
    theirs = persona_with(clinic_b, "Hooks of B", ["read", "write", "webhooks"])
    pk = post(theirs, "/api/v1/webhooks/", {"url": "https://b.example.org/"}).json()["id"]

    assert hooks_a.api.get(f"/api/v1/webhooks/{pk}/").status_code == 404
    assert hooks_a.api.delete(f"/api/v1/webhooks/{pk}/").status_code == 404
    assert WebhookEndpoint.objects.get(pk=pk).active


def test_a_deleted_endpoint_gets_nothing_more(hooks_a, clinic_a, receiver, clock):
    endpoint, _ = register(hooks_a, receiver.url)
    receiver.answer = 200
    receiver.start()
    make_alert(clinic_a)

    assert hooks_a.api.delete(f"/api/v1/webhooks/{endpoint.pk}/").status_code == 204

    assert webhooks.deliver() == 0
    assert receiver.calls == []
    assert WebhookEndpoint.objects.filter(pk=endpoint.pk, active=False).exists()
