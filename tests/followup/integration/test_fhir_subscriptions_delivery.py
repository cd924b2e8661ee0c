"""FHIR Subscriptions delivered to a receiver on 127.0.0.1: the handshake, heartbeats when
idle, every event notification once and in order with a valid signature, `id-only` and
`full-resource`, after the receiver was down for a while; every Bundle valid R4."""

import json
from datetime import timedelta

import pytest

from followup.delivery import subscriptions as channel
from followup.fhir import notifications
from followup.fhir import subscriptions as fhir_subs
from followup.models import Alert, AlertStatus, FhirSubscription, FhirTopic, SurgeryPlan
from followup.pipeline import sweep
from tests import factories
from tests.api import post
from tests.followup.fhir.conftest import FHIR_JSON, checkpoint, valid

from . import test_webhooks as hooks
from .test_webhooks import T0, Receiver, make_alert, verify

# The webhooks' receiver on 127.0.0.1 (plain http, loopback allowed for the test) and clock.
receiver, clock = hooks.receiver, hooks.clock


class ScriptedReceiver(Receiver):
    """Answers from `script` first, one per call, then `answer`."""

    def __init__(self) -> None:
        self.script: list[int] = []
        super().__init__()

    @property
    def answer(self) -> int:
        return self.script.pop(0) if self.script else self._answer

    @answer.setter
    def answer(self, value: int) -> None:
        self._answer = value


@pytest.fixture
def scripted(settings):
    Receiver.allow(settings)
    receiver = ScriptedReceiver()
    yield receiver
    receiver.stop()


def subscribe(persona, url: str, topic=FhirTopic.ALERT, content="id-only", **extra) -> tuple:
    body = {
        "resourceType": "Subscription",
        "status": "requested",
        "reason": "test",
        "criteria": fhir_subs.TOPICS[topic].url,
        "channel": {
            "extension": [{"url": fhir_subs.EXT_HEARTBEAT, "valueUnsignedInt": 120}],
            "type": "rest-hook",
            "endpoint": url,
            "payload": FHIR_JSON,
            "_payload": {"extension": [{"url": fhir_subs.EXT_CONTENT, "valueCode": content}]},
            "header": ["Authorization: Bearer receiver-token"],
        },
        **extra,
    }
    response = persona.api.post("/fhir/r4/Subscription", json.dumps(body), content_type=FHIR_JSON)
    assert response.status_code == 201, response.content
    resource = response.json()
    (secret,) = [e["valueString"] for e in resource["extension"]]
    return FhirSubscription.objects.get(pk=resource["id"]), secret


def deliver() -> int:
    return channel.deliver(notifications.compose)


def status_of(bundle: dict) -> dict:
    """The SubscriptionStatus parameters of a notification, by name."""
    first = bundle["entry"][0]["resource"]
    assert first["resourceType"] == "Parameters"
    return {p["name"]: p for p in first["parameter"]}


def notification_event(bundle: dict) -> dict:
    (event,) = [p for p in bundle["entry"][0]["resource"]["parameter"]
                if p["name"] == "notification-event"]  # fmt: skip
    return {part["name"]: part for part in event["part"]}


def received(receiver: Receiver, secret: str) -> list[dict]:
    """The accepted notifications, each checked: a valid R4 history Bundle, signed."""
    bundles = []
    for call in receiver.calls:
        if call["status"] != 200:
            continue
        verify(call, secret)
        assert call["headers"]["Content-Type"] == FHIR_JSON
        assert call["headers"]["Authorization"] == "Bearer receiver-token"
        bundle = valid(call["event"])
        assert bundle["type"] == "history"
        for entry in bundle["entry"]:
            if "resource" in entry:
                valid(entry["resource"])
        bundles.append(bundle)
    return bundles


def test_handshake_then_each_event_once_in_order_signed_then_heartbeats(
    integration_a, clinic_a, clinic_b, receiver, clock
):
    receiver.answer = 200
    receiver.start()
    make_alert(clinic_a)  # before the subscription: not sent
    sub, secret = subscribe(integration_a, receiver.url)
    assert receiver.calls == []  # nothing from the request itself

    assert deliver() == 1
    sub.refresh_from_db()
    assert (sub.status, sub.handshake_at) == ("active", T0)
    (handshake,) = received(receiver, secret)
    status = status_of(handshake)
    assert status["type"]["valueCode"] == "handshake"
    assert status["status"]["valueCode"] == "requested"
    assert status["events-since-subscription-start"]["valueString"] == "0"
    assert status["topic"]["valueCanonical"] == fhir_subs.TOPICS[FhirTopic.ALERT].url
    assert status["subscription"]["valueReference"]["reference"].endswith(
        f"/fhir/r4/Subscription/{sub.pk}"
    )

    x, y = make_alert(clinic_a), make_alert(clinic_a)
    make_alert(clinic_b)  # another clinic's: never
    assert post(integration_a, f"/api/v1/alerts/{x.pk}/acknowledge/", {}).status_code == 200
    assert deliver() == 3
    assert deliver() == 0  # nothing more, and not idle for a period yet

    events = received(receiver, secret)[1:]
    numbers = [notification_event(b)["event-number"]["valueString"] for b in events]
    assert numbers == ["1", "2", "3"]
    since = [status_of(b)["events-since-subscription-start"]["valueString"] for b in events]
    assert since == ["1", "2", "3"]
    focus = [notification_event(b)["focus"]["valueReference"]["reference"] for b in events]
    assert [f.rsplit("/", 2)[-2:] for f in focus] == [
        ["Flag", str(x.pk)], ["Flag", str(y.pk)], ["Flag", str(x.pk)]
    ]  # fmt: skip
    for bundle in events:
        assert status_of(bundle)["type"]["valueCode"] == "event-notification"
        (entry,) = bundle["entry"][1:]
        assert "resource" not in entry  # id-only
        assert (
            entry["fullUrl"] == notification_event(bundle)["focus"]["valueReference"]["reference"]
        )

    # Idle: a heartbeat once the period (120 s) has passed since the last notification.
    clock.shift(timedelta(seconds=119))
    assert deliver() == 0
    clock.shift(timedelta(seconds=1))
    assert deliver() == 1
    assert deliver() == 0
    clock.shift(timedelta(seconds=120))
    assert deliver() == 1
    beats = received(receiver, secret)[4:]
    assert [status_of(b)["type"]["valueCode"] for b in beats] == ["heartbeat", "heartbeat"]
    assert [status_of(b)["events-since-subscription-start"]["valueString"] for b in beats] == [
        "3", "3"
    ]  # fmt: skip

    # Turned off: nothing more.
    assert integration_a.api.delete(f"/fhir/r4/Subscription/{sub.pk}").status_code == 204
    make_alert(clinic_a)
    clock.shift(timedelta(hours=1))
    assert deliver() == 0
    assert len(receiver.calls) == 6


def test_a_receiver_down_then_back_loses_nothing_and_gets_nothing_twice(
    integration_a, clinic_a, scripted, clock
):
    receiver = scripted
    sub, secret = subscribe(integration_a, receiver.url, content="full-resource")

    # Not listening: the handshake fails, the subscription is in error, retried in 30 s.
    assert deliver() == 0
    sub.refresh_from_db()
    assert (sub.status, sub.next_attempt_at) == ("error", T0 + timedelta(seconds=30))
    assert sub.last_error == "handshake: connection refused"
    alerts = [make_alert(clinic_a) for _ in range(3)]
    clock.shift(timedelta(seconds=20))
    assert deliver() == 0 and receiver.calls == []

    # Listening, failing (503): the wait doubles.
    receiver.start()
    clock.move_to(T0 + timedelta(seconds=30))
    assert deliver() == 0
    sub.refresh_from_db()
    assert sub.next_attempt_at == T0 + timedelta(seconds=90)

    # Back: the handshake, then everything that happened meanwhile.
    receiver.answer = 200
    clock.move_to(T0 + timedelta(seconds=90))
    assert deliver() == 1
    sub.refresh_from_db()
    assert sub.status == "active"
    assert deliver() == 3

    # Failing again in the middle of new events: a failed one waits, a delivered one is
    # not sent again, none is skipped.
    post(integration_a, f"/api/v1/alerts/{alerts[0].pk}/resolve/", {"note": "Stable"})
    post(integration_a, f"/api/v1/alerts/{alerts[1].pk}/acknowledge/", {})
    receiver.script = [503]
    assert deliver() == 0
    sub.refresh_from_db()
    assert (sub.status, sub.events_since_start) == ("error", 3)
    clock.shift(timedelta(seconds=30))
    receiver.script = [200, 503]  # event 4 through, event 5 refused
    assert deliver() == 1
    sub.refresh_from_db()
    assert (sub.status, sub.events_since_start) == ("error", 4)
    clock.shift(timedelta(seconds=30))
    assert deliver() == 1
    assert deliver() == 0

    bundles = received(receiver, secret)
    assert [status_of(b)["type"]["valueCode"] for b in bundles] == [
        "handshake", *["event-notification"] * 5
    ]  # fmt: skip
    events = bundles[1:]
    assert [notification_event(b)["event-number"]["valueString"] for b in events] == [
        "1", "2", "3", "4", "5"
    ]  # fmt: skip
    flags = [b["entry"][1]["resource"] for b in events]
    assert [f["id"] for f in flags] == [str(a.pk) for a in alerts] + [
        str(alerts[0].pk), str(alerts[1].pk)
    ]  # fmt: skip
    # Each Flag as it was after its event, whatever it is now.
    assert [f["status"] for f in flags] == ["active"] * 3 + ["inactive", "inactive"]
    alert_status = [next(e["valueCode"] for e in f["extension"] if e["url"].endswith("status"))
                    for f in flags]  # fmt: skip
    assert alert_status == ["open"] * 3 + [AlertStatus.RESOLVED, AlertStatus.ACKNOWLEDGED]
    # What was refused was sent again, and only that: the handshake, events 4 and 5.
    tried = [json.loads(c["body"]) for c in receiver.calls if c["status"] == 503]
    assert status_of(tried[0])["type"]["valueCode"] == "handshake"
    assert [notification_event(b)["event-number"]["valueString"] for b in tried[1:]] == [
        "4", "5"
    ]  # fmt: skip


def test_checkpoint_overdue_for_one_patient_with_the_care_plan(
    integration_a, clinic_a, receiver, clock
):
    receiver.answer = 200
    receiver.start()
    watched = factories.surgery(factories.patient(clinic_a), T0 - timedelta(days=120))
    other = factories.surgery(factories.patient(clinic_a), T0 - timedelta(days=120))
    SurgeryPlan.objects.update(stale_since=None)  # planned already: the sweep only raises
    _, secret = subscribe(
        integration_a,
        receiver.url,
        FhirTopic.CHECKPOINT_OVERDUE,
        "full-resource",
        _criteria={
            "extension": [
                {
                    "url": fhir_subs.EXT_FILTER,
                    "valueString": f"CarePlan?patient={watched.patient_id}",
                }
            ]
        },
    )
    assert deliver() == 1  # the handshake
    finding = Alert.objects.create(  # the patient's, of another topic
        clinic=clinic_a, patient=watched.patient, surgery=watched, code="screw_loosening",
        severity="high", subject="L5:left", message="Loosening",
    )  # fmt: skip
    post(integration_a, f"/api/v1/alerts/{finding.pk}/acknowledge/", {})
    late = checkpoint(watched, "bridging_film", 0)  # overdue for 71 days: raised by the sweep
    checkpoint(other, "bridging_film", 0)  # another patient's: filtered out
    assert sweep.run(T0).alerts == 2
    assert deliver() == 1
    assert sweep.run(T0 + timedelta(minutes=5)).alerts == 0
    assert deliver() == 0

    handshake, event = received(receiver, secret)
    assert status_of(handshake)["type"]["valueCode"] == "handshake"
    parts = notification_event(event)
    assert parts["event-number"]["valueString"] == "1"
    assert parts["focus"]["valueReference"]["reference"].endswith(f"/CarePlan/{watched.pk}")
    overdue = Alert.objects.get(checkpoint=late)
    assert parts["additional-context"]["valueReference"]["reference"].endswith(
        f"/Flag/{overdue.pk}"
    )
    plan, flag = (entry["resource"] for entry in event["entry"][1:])
    assert (plan["resourceType"], plan["id"]) == ("CarePlan", str(watched.pk))
    (activity,) = plan["activity"]
    assert activity["detail"]["statusReason"]["coding"][0]["code"] == "overdue"
    assert (flag["resourceType"], flag["id"]) == ("Flag", str(overdue.pk))
    assert flag["code"]["coding"][0]["code"] == "checkpoint_overdue"
