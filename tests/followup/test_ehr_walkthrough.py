"""Issue 17's "done when", as an EHR-side script would run it over HTTP with public tooling
only (PyJWT for SMART Backend Services, fhirpy for FHIR, requests for CDS Hooks) and no
knowledge of the private API: get a token, find a patient by the hospital's MRN, page
through their findings by category and date, subscribe to their alerts (and receive
one), show the follow-up cards in a patient-view."""

import json
from datetime import timedelta

import jwt
import pytest
import requests
from django.utils import timezone
from fhirpy import SyncFHIRClient

from followup.delivery import subscriptions as channel
from followup.fhir import notifications
from followup.models import Alert, AlertStatus, Severity
from followup.models.alerts import AlertCode
from imaging.models import Finding
from patients.models import CdsHooksClient, Scope, SmartClient
from tests import factories
from tests.patients.smart.keys import KeyPair, claims

from .fhir.conftest import valid
from .integration.test_webhooks import Receiver, verify

HOSPITAL_MRN = "urn:oid:1.2.250.1.71.4.2.7"
EHR_ISSUER = "https://ehr.hospital-a.example"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def hospital(clinic_a, settings, live_server):
    settings.SITE_URL = live_server.url
    Receiver.allow(settings)
    clinic_a.mrn_system = HOSPITAL_MRN
    clinic_a.save()
    patient = factories.patient(clinic_a, mrn="H-4711")
    factories.patient(clinic_a)  # someone else, never in the answers
    surgery = factories.surgery(patient, timezone.now() - timedelta(days=400))
    for days in range(390, 40, -70):
        factories.exam(
            patient,
            surgery,
            performed_at=timezone.now() - timedelta(days=days),
            findings=[{"code": "bridging", "value": "partial", "level": "L4-L5"}],
        )
    return {"clinic": clinic_a, "patient": patient, "surgery": surgery, "url": live_server.url}


def test_an_ehr_builds_on_the_service_with_public_tooling_only(hospital):
    base, patient = hospital["url"], hospital["patient"]
    backend_key, ehr_key = KeyPair("RSA", "backend-1"), KeyPair("EC", "ehr-1")
    smart = SmartClient.register(
        hospital["clinic"], "EHR backend", backend_key.jwks(), scopes=[Scope.READ, Scope.WRITE]
    )
    CdsHooksClient.register(hospital["clinic"], "EHR", EHR_ISSUER, ehr_key.jwks())

    # 1. A token, from what the discovery document says.
    config = requests.get(f"{base}/.well-known/smart-configuration", timeout=10).json()
    assertion = jwt.encode(
        claims(smart.client_id, config["token_endpoint"]),
        backend_key.private,
        algorithm="RS384",
        headers={"kid": backend_key.kid},
    )
    granted = requests.post(
        config["token_endpoint"],
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": JWT_BEARER,
            "client_assertion": assertion,
            "scope": "system/Patient.rs system/Observation.rs system/Basic.rs "
            "system/Subscription.cruds",
        },
        timeout=10,
    )
    assert granted.status_code == 200, granted.text
    token = granted.json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    statement = requests.get(f"{base}/fhir/r4/metadata", headers=headers, timeout=10).json()
    security = statement["rest"][0]["security"]
    assert security["service"][0]["coding"][0]["code"] == "SMART-on-FHIR"
    assert security["extension"][0]["extension"][0]["valueUri"] == config["token_endpoint"]
    fhir = SyncFHIRClient(
        f"{base}/fhir/r4",
        authorization=f"Bearer {token}",
        extra_headers={"Accept": "application/fhir+json"},
    )

    # 2. The patient, by the hospital's MRN.
    found = fhir.resources("Patient").search(identifier=f"{HOSPITAL_MRN}|H-4711").fetch_all()
    assert [p.id for p in found] == [str(patient.pk)]
    valid(found[0].serialize())

    # 3. Their imaging findings of the last 300 days, two per page, every page followed.
    since = (timezone.now() - timedelta(days=300)).date().isoformat()
    search = fhir.resources("Observation").search(
        patient=f"Patient/{patient.pk}", category="imaging", date=f"ge{since}"
    )
    seen = [o.id for o in search.limit(2).fetch_all()]
    recent = Finding.objects.filter(
        exam__patient=patient, exam__performed_at__gte=timezone.now() - timedelta(days=301)
    )
    expected = {f"finding-{pk}" for pk in recent.values_list("pk", flat=True)}
    assert len(expected) == 3  # two pages
    assert sorted(seen) == sorted(expected)  # every one, once

    # 4. A subscription to the patient's alerts, on a receiver of the EHR's (loopback here).
    receiver = Receiver()
    receiver.answer = 200
    receiver.start()
    try:
        body = {
            "resourceType": "Subscription",
            "status": "requested",
            "reason": "Spine follow-up alerts",
            "criteria": _alert_topic(fhir),
            "_criteria": {
                "extension": [
                    {
                        "url": "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-filter-criteria",
                        "valueString": f"Flag?patient={patient.pk}",
                    }
                ]
            },
            "channel": {
                "type": "rest-hook",
                "endpoint": receiver.url,
                "payload": "application/fhir+json",
            },
        }
        created = requests.post(
            f"{base}/fhir/r4/Subscription",
            data=json.dumps(body),
            headers={**headers, "Content-Type": "application/fhir+json"},
            timeout=10,
        )
        assert created.status_code == 201, created.text
        secret = next(e["valueString"] for e in created.json()["extension"])
        Alert.objects.create(
            clinic=hospital["clinic"],
            patient=patient,
            surgery=hospital["surgery"],
            code=AlertCode.SCREW_LOOSENING,
            severity=Severity.HIGH,
            subject="L5:left",
            message="Loosening",
            status=AlertStatus.OPEN,
        )
        # What the delivery worker runs each minute: the handshake, then the alert's event.
        channel.deliver(notifications.compose)
        channel.deliver(notifications.compose)
        kinds = []
        for call in receiver.calls:
            verify(call, secret)
            bundle = valid(call["event"])
            status = {p["name"]: p for p in bundle["entry"][0]["resource"]["parameter"]}
            kinds.append(status["type"]["valueCode"])
        assert kinds == ["handshake", "event-notification"]
    finally:
        receiver.stop()

    # 5. The follow-up cards in the EHR's patient-view.
    discovery = requests.get(f"{base}/cds-services", timeout=10).json()
    (service,) = [s for s in discovery["services"] if s["hook"] == "patient-view"]
    cds_url = f"{base}/cds-services/{service['id']}"
    cards = requests.post(
        cds_url,
        json={
            "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
            "hook": "patient-view",
            "context": {"userId": "Practitioner/example", "patientId": "ehr-123"},
            "prefetch": {
                "patient": {
                    "resourceType": "Patient",
                    "id": "ehr-123",
                    "identifier": [{"system": HOSPITAL_MRN, "value": "H-4711"}],
                }
            },
        },
        headers={"Authorization": f"Bearer {ehr_key.sign(claims(EHR_ISSUER, cds_url))}"},
        timeout=10,
    ).json()["cards"]
    assert any(
        "Loosening" in card["summary"] or "loosening" in card["summary"].lower() for card in cards
    ), cards


def _alert_topic(fhir: SyncFHIRClient) -> str:
    """The alert topic's canonical URL, as a client discovers it (R4 `Basic`)."""
    topics = fhir.resources("Basic").search(code="SubscriptionTopic").fetch_all()
    urls = [
        e["valueUri"]
        for topic in topics
        for e in topic.serialize()["extension"]
        if e["url"].endswith("SubscriptionTopic.url")
    ]
    (alert,) = [url for url in urls if url.endswith("/alert")]
    return alert
