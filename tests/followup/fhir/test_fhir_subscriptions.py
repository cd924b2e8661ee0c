"""FHIR Subscriptions, the resource: created by an integration client (backport profile),
read and searched by that client only, deleted (turned off); refused with an
OperationOutcome that names the element; the topics discoverable as Basic and in the
CapabilityStatement. Delivery is tested in tests/followup/integration/."""

import json

import pytest

from followup import outbound
from followup.fhir import subscriptions as fhir_subs
from followup.models import FhirSubscription, FhirSubscriptionStatus, FhirTopic
from tests import factories
from tests.conftest import persona_with

from .conftest import FHIR_JSON, fhir_get, valid

ENDPOINT = "https://ehr.hospital.test/fhir-notify"


@pytest.fixture(autouse=True)
def public_receiver(monkeypatch):
    """The receiver's name resolves to a public address (no DNS in the tests); an address
    is itself."""
    public = ["93.184.215.14"]
    monkeypatch.setattr(outbound, "resolve", lambda h, port: [h] if h[0].isdigit() else public)


def subscription(topic: str = FhirTopic.ALERT, **channel) -> dict:
    body = {
        "resourceType": "Subscription",
        "meta": {"profile": [fhir_subs.PROFILE_SUBSCRIPTION]},
        "status": "requested",
        "reason": "Alerts into the EHR",
        "criteria": fhir_subs.TOPICS[topic].url,
        "channel": {
            "extension": [{"url": fhir_subs.EXT_HEARTBEAT, "valueUnsignedInt": 300}],
            "type": "rest-hook",
            "endpoint": ENDPOINT,
            "payload": FHIR_JSON,
            "_payload": {
                "extension": [{"url": fhir_subs.EXT_CONTENT, "valueCode": "full-resource"}]
            },
            "header": ["Authorization: Bearer ehr-side-token"],
        },
    }
    body["channel"].update(channel)
    return body


def create(persona, body: dict):
    return persona.api.post("/fhir/r4/Subscription", json.dumps(body), content_type=FHIR_JSON)


def created(persona, body: dict) -> dict:
    response = create(persona, body)
    assert response.status_code == 201, response.content
    return valid(response.json())


def test_a_client_creates_a_subscription_requested_with_its_signing_secret(
    integration_a, clinic_a, django_capture_on_commit_callbacks
):
    patient = factories.patient(clinic_a)
    body = subscription()
    body["_criteria"] = {
        "extension": [{"url": fhir_subs.EXT_FILTER, "valueString": f"Flag?patient={patient.pk}"}]
    }
    with django_capture_on_commit_callbacks() as callbacks:
        response = create(integration_a, body)
    assert response.status_code == 201, response.content
    # The handshake is the worker's, nudged after the commit: nothing sent from the request.
    nudges = [c for c in callbacks if getattr(c, "func", None).__name__ == "nudge"]
    assert [n.args for n in nudges] == [("followup.tasks.deliver_fhir_subscriptions",)]
    resource = valid(response.json())
    row = FhirSubscription.objects.get()
    assert response["Location"].endswith(f"/fhir/r4/Subscription/{row.pk}")
    assert (row.client, row.clinic, row.topic) == (integration_a.client, clinic_a, "alert")
    assert (row.patient_id, row.content, row.heartbeat_period) == (patient.pk, "full-resource", 300)
    assert row.headers == ["Authorization: Bearer ehr-side-token"]
    assert resource["status"] == "requested" and row.status == FhirSubscriptionStatus.REQUESTED
    assert resource["criteria"] == fhir_subs.TOPICS[FhirTopic.ALERT].url
    assert resource["_criteria"]["extension"][0]["valueString"] == (
        f"Flag?patient=Patient/{patient.pk}"
    )
    (secret,) = [e for e in resource["extension"] if e["url"] == fhir_subs.EXT_SIGNING_SECRET]
    assert secret["valueString"] == row.secret and len(row.secret) == 64

    # Read back: the same, without the secret.
    read = valid(fhir_get(integration_a, f"/fhir/r4/Subscription/{row.pk}"))
    assert "extension" not in read
    assert read["channel"]["_payload"]["extension"][0]["valueCode"] == "full-resource"
    assert read["channel"]["extension"][0]["valueUnsignedInt"] == 300


def test_a_subscription_is_its_clients_only(integration_a, clinic_a, integration_b):
    mine = created(integration_a, subscription())
    other_client = persona_with(clinic_a, "Another EHR of A")
    theirs = created(other_client, subscription(FhirTopic.CHECKPOINT_OVERDUE))

    def ids(persona) -> set[str]:
        bundle = valid(fhir_get(persona, "/fhir/r4/Subscription"))
        return {entry["resource"]["id"] for entry in bundle.get("entry", [])}

    assert ids(integration_a) == {mine["id"]}
    assert ids(other_client) == {theirs["id"]}
    assert ids(integration_b) == set()
    for persona in (integration_b, other_client):
        outcome = fhir_get(persona, f"/fhir/r4/Subscription/{mine['id']}", status=404)
        assert valid(outcome)["issue"][0]["code"] == "not-found"
        assert persona.api.delete(f"/fhir/r4/Subscription/{mine['id']}").status_code == 404
    assert FhirSubscription.objects.get(pk=mine["id"]).status == "requested"


def test_delete_turns_it_off_and_it_is_gone(integration_a):
    resource = created(integration_a, subscription())
    assert integration_a.api.delete(f"/fhir/r4/Subscription/{resource['id']}").status_code == 204
    assert FhirSubscription.objects.get(pk=resource["id"]).status == FhirSubscriptionStatus.OFF
    outcome = fhir_get(integration_a, f"/fhir/r4/Subscription/{resource['id']}", status=410)
    assert valid(outcome)["issue"][0]["code"] == "deleted"
    assert not fhir_get(integration_a, "/fhir/r4/Subscription").get("entry")


def test_staff_have_no_subscriptions_of_their_own(staff_a):
    response = create(staff_a, subscription())
    assert response.status_code == 403
    assert valid(response.json())["resourceType"] == "OperationOutcome"
    assert not FhirSubscription.objects.exists()


def test_a_client_without_the_fhir_scope_is_refused(clinic_a):
    hooks_only = persona_with(clinic_a, "Hooks only", ["read", "write", "webhooks"])
    assert create(hooks_only, subscription()).status_code == 403
    assert not FhirSubscription.objects.exists()


def _with_filter(value: str) -> dict:
    body = subscription()
    body["_criteria"] = {"extension": [{"url": fhir_subs.EXT_FILTER, "valueString": value}]}
    return body


def _content(code: str) -> dict:
    return {"_payload": {"extension": [{"url": fhir_subs.EXT_CONTENT, "valueCode": code}]}}


INVALID = {
    "unknown topic": (
        {**subscription(), "criteria": "Flag?patient=1"},
        "Subscription.criteria",
    ),
    "not a rest-hook": (subscription(type="email"), "Subscription.channel.type"),
    "no endpoint": (subscription(endpoint=None), "Subscription.channel.endpoint"),
    "http endpoint": (
        subscription(endpoint="http://ehr.hospital.test/hook"),
        "Subscription.channel.endpoint",
    ),
    "metadata service": (
        subscription(endpoint="https://169.254.169.254/latest"),
        "Subscription.channel.endpoint",
    ),
    "xml payload": (subscription(payload="application/fhir+xml"), "Subscription.channel.payload"),
    "empty content": (subscription(**_content("empty")), "Subscription.channel.payload.extension"),
    "our own header": (
        subscription(header=["X-Followup-Signature: forged"]),
        "Subscription.channel.header[0]",
    ),
    "header injection": (
        subscription(header=["Authorization: a\r\nHost: evil"]),
        "Subscription.channel.header[0]",
    ),
    "heartbeat too fast": (
        subscription(extension=[{"url": fhir_subs.EXT_HEARTBEAT, "valueUnsignedInt": 5}]),
        "Subscription.channel.extension[0].valueUnsignedInt",
    ),
    "filter of another type": (
        _with_filter("Observation?patient=1"),
        "Subscription.criteria.extension[0].valueString",
    ),
    "status off": ({**subscription(), "status": "off"}, "Subscription.status"),
    "an end": ({**subscription(), "end": "2030-01-01T00:00:00Z"}, "Subscription.end"),
    "not a Subscription": ({"resourceType": "Flag"}, "Subscription"),
    "no status (R4 model)": (
        {k: v for k, v in subscription().items() if k != "status"},
        "Subscription.status",
    ),
}


@pytest.mark.parametrize("body, element", INVALID.values(), ids=INVALID.keys())
def test_an_invalid_subscription_is_a_400_naming_the_element(integration_a, body, element):
    response = create(integration_a, body)
    assert response.status_code == 400, response.content
    outcome = valid(response.json())
    assert element in [where for issue in outcome["issue"] for where in issue.get("expression", [])]
    assert not FhirSubscription.objects.exists()


def test_a_filter_on_another_clinics_patient_is_refused(integration_a, clinic_b):
    theirs = factories.patient(clinic_b)
    response = create(integration_a, _with_filter(f"Flag?patient=Patient/{theirs.pk}"))
    assert response.status_code == 400
    (issue,) = valid(response.json())["issue"]
    assert issue["expression"] == ["Subscription.criteria.extension[0].valueString"]
    assert "not a patient of your clinic" in issue["diagnostics"]


def test_the_topics_are_discoverable(integration_a):
    bundle = valid(fhir_get(integration_a, "/fhir/r4/Basic?code=SubscriptionTopic"))
    topics = [valid(entry["resource"]) for entry in bundle["entry"]]
    urls = {
        e["valueUri"]
        for t in topics
        for e in t["extension"]
        if e["url"].endswith("SubscriptionTopic.url")
    }
    assert urls == {t.url for t in fhir_subs.TOPICS.values()}
    one = valid(fhir_get(integration_a, "/fhir/r4/Basic/topic-checkpoint-overdue"))
    assert one["code"]["coding"][0]["code"] == "SubscriptionTopic"
    fhir_get(integration_a, "/fhir/r4/Basic/topic-nothing", status=404)

    statement = valid(fhir_get(integration_a, "/fhir/r4/metadata"))
    (declared,) = [r for r in statement["rest"][0]["resource"] if r["type"] == "Subscription"]
    assert {e["valueCanonical"] for e in declared["extension"]} == urls
    assert {i["code"] for i in declared["interaction"]} == {
        "create",
        "read",
        "search-type",
        "delete",
    }


def test_revoking_the_client_turns_its_subscriptions_off(integration_a, clinic_a):
    mine = created(integration_a, subscription())
    other_client = persona_with(clinic_a, "Another EHR of A")
    theirs = created(other_client, subscription())
    integration_a.client.revoke()
    statuses = dict(FhirSubscription.objects.values_list("pk", "status"))
    assert statuses == {int(mine["id"]): "off", int(theirs["id"]): "requested"}


def test_status_says_the_subscriptions_state_and_the_events_counted(integration_a, integration_b):
    resource = created(integration_a, subscription())
    row = FhirSubscription.objects.get(pk=resource["id"])
    row.status, row.events_since_start = FhirSubscriptionStatus.ACTIVE, 7
    row.save(update_fields=["status", "events_since_start"])
    bundle = valid(fhir_get(integration_a, f"/fhir/r4/Subscription/{row.pk}/$status"))
    assert (bundle["type"], bundle["total"]) == ("searchset", 1)
    [entry] = bundle["entry"]
    assert entry["resource"]["meta"]["profile"] == [fhir_subs.PROFILE_STATUS]
    parameters = {p["name"]: p for p in entry["resource"]["parameter"]}
    assert parameters["type"]["valueCode"] == "query-status"
    assert parameters["status"]["valueCode"] == "active"
    assert parameters["events-since-subscription-start"]["valueString"] == "7"
    assert parameters["topic"]["valueCanonical"] == fhir_subs.TOPICS[FhirTopic.ALERT].url
    reference = parameters["subscription"]["valueReference"]["reference"]
    assert reference.endswith(f"/fhir/r4/Subscription/{row.pk}")

    outcome = fhir_get(integration_b, f"/fhir/r4/Subscription/{row.pk}/$status", status=404)
    assert valid(outcome)["issue"][0]["code"] == "not-found"
    statement = fhir_get(integration_a, "/fhir/r4/metadata")
    [declared] = [r for r in statement["rest"][0]["resource"] if r["type"] == "Subscription"]
    assert declared["operation"] == [{"name": "status", "definition": fhir_subs.OPERATION_STATUS}]
