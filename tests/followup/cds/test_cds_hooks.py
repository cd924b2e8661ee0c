"""CDS Hooks 2.0, as an EHR calls it: discovery, `patient-view` and `order-select` requests
shaped as the specification's examples, signed with a key of a test JWK Set; the answers
checked against the specification's card shape; and every refusal of the JWT."""

import json
import uuid
from datetime import timedelta

import jwt
import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from followup.models import Alert, AlertStatus, Checkpoint, CheckpointKind
from followup.rules.across_exams import MR_SHOWS_NO_HARDWARE
from patients.models import CdsHooksClient, RecordRead
from tests import factories
from tests.patients.smart.keys import KeyPair, claims

EHR = "https://ehr.hospital-a.example"
PATIENT_VIEW = "spine-followup-patient-view"
ORDER_SELECT = "spine-followup-imaging-order"
INDICATORS = {"info", "warning", "critical"}


@pytest.fixture(scope="module")
def ehr_key() -> KeyPair:
    return KeyPair("RSA", "ehr-2026")


@pytest.fixture
def ehr_a(clinic_a, ehr_key) -> CdsHooksClient:
    return CdsHooksClient.register(clinic_a, "EHR of A", EHR, ehr_key.jwks())


def service_url(service: str) -> str:
    return f"{settings.SITE_URL}/cds-services/{service}"


def call(service: str, body: dict, key: KeyPair | None = None, iss: str = EHR, token=None):
    if token is None and key is not None:
        token = key.sign(claims(iss, service_url(service)))
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return Client(headers=headers).post(
        f"/cds-services/{service}", json.dumps(body), content_type="application/json"
    )


def check_cards(answer) -> list[dict]:
    """The CDS Hooks 2.0 card response: `cards`, each with a summary under 140 characters,
    an indicator, a source with a label, links with a label, a URL and a type."""
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert set(body) <= {"cards", "systemActions"} and isinstance(body["cards"], list)
    for card in body["cards"]:
        assert isinstance(card["summary"], str) and 0 < len(card["summary"]) < 140
        assert card["indicator"] in INDICATORS
        assert isinstance(card["source"]["label"], str) and card["source"]["label"]
        uuid.UUID(card["uuid"])
        for link in card.get("links", []):
            assert link["type"] in {"absolute", "smart"}
            assert link["label"] and link["url"].startswith(settings.SITE_URL)
    return body["cards"]


def patient_view_request(patient_id: str, prefetch_patient: dict | None = None, **context):
    """The specification's patient-view example, with our patient in it."""
    body = {
        "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "fhirServer": "http://hooks.smarthealthit.org:9080",
        "hook": "patient-view",
        "context": {"userId": "Practitioner/example", "patientId": patient_id, **context},
    }
    if prefetch_patient is not None:
        body["prefetch"] = {"patient": prefetch_patient}
    return body


def mrn_identifier(value: str) -> dict:
    return {
        "type": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]
        },
        "system": "urn:oid:1.2.250.1.71.4.2.7",
        "value": value,
    }


def ehr_patient(mrn: str) -> dict:
    return {
        "resourceType": "Patient",
        "id": "1288992",
        "gender": "male",
        "birthDate": "1925-12-23",
        "active": True,
        "identifier": [mrn_identifier(mrn)],
    }


def checkpoint(patient, surgery, code: str, label: str, due_days_ago: int, **fields):
    due = timezone.now() - timedelta(days=due_days_ago)
    fields.setdefault("kind", CheckpointKind.EXAM)
    return Checkpoint.objects.create(
        clinic=patient.clinic, patient=patient, surgery=surgery, code=code, label=label,
        opens_at=due - timedelta(days=30), due_at=due,
        overdue_at=fields.pop("overdue_at", due + timedelta(days=7)), **fields,
    )  # fmt: skip


def alert(patient, surgery, code: str, severity: str, **fields):
    return Alert.objects.create(
        clinic=patient.clinic, patient=patient, surgery=surgery, code=code, severity=severity,
        message=fields.pop("message", f"{code} at L4-L5."), **fields,
    )  # fmt: skip


@pytest.fixture
def followed(clinic_a):
    """A fused patient of A with an overdue baseline film, an urgent and a high alert, and
    what must not be shown: an info alert, a resolved one, a checkpoint not yet overdue."""
    patient = factories.patient(clinic_a, mrn="A-100", family_name="Martin", given_name="Lea")
    surgery = factories.surgery(patient, timezone.now() - timedelta(days=80))
    baseline = checkpoint(patient, surgery, "baseline_film", "Baseline film", 38,
                          overdue_severity="high")  # fmt: skip
    checkpoint(patient, surgery, "bridging_film", "Bridging film", -190)
    alert(patient, surgery, "checkpoint_overdue", "high", checkpoint=baseline)
    alert(patient, surgery, "abscess", "urgent")
    alert(patient, surgery, "screw_loosening", "high", subject="L5:left")
    alert(patient, surgery, "bone_scan_early", "info")
    alert(patient, surgery, "hardware_fracture", "high", status=AlertStatus.RESOLVED,
          resolved_at=timezone.now())  # fmt: skip
    return patient


# --- discovery ----------------------------------------------------------------------------


def test_discovery_lists_both_services_as_the_specification_shapes_them(db):
    answer = Client().get("/cds-services")
    assert answer.status_code == 200
    services = {s["id"]: s for s in answer.json()["services"]}
    assert {s["hook"] for s in services.values()} == {"patient-view", "order-select"}
    for service in services.values():
        assert {"hook", "id", "description"} <= set(service)
        assert service["prefetch"] == {"patient": "Patient/{{context.patientId}}"}
    assert set(services) == {PATIENT_VIEW, ORDER_SELECT}


# --- patient-view ---------------------------------------------------------------------------


def test_patient_view_shows_the_overdue_checkpoints_and_the_open_high_and_urgent_alerts(
    ehr_a, ehr_key, followed
):
    request = patient_view_request("1288992", ehr_patient("A-100"))
    cards = check_cards(call(PATIENT_VIEW, request, ehr_key))
    summaries = [card["summary"] for card in cards]
    assert summaries == [
        "Overdue: Baseline film",
        "Urgent alert: Abscess",
        "High alert: Screw Loosening",
    ]  # the baseline's own overdue alert is not a second card
    assert [card["indicator"] for card in cards] == ["warning", "critical", "warning"]
    overdue = Checkpoint.objects.get(code="baseline_film")
    assert cards[0]["links"][0]["url"] == (
        f"{settings.SITE_URL}/admin/followup/checkpoint/{overdue.pk}/change/"
    )
    assert cards[1]["links"][0]["url"].startswith(f"{settings.SITE_URL}/admin/followup/alert/")
    # No more PHI than the EHR sent: no name, no MRN, not our id outside the links.
    shown = json.dumps([{k: v for k, v in c.items() if k != "links"} for c in cards])
    for secret in ("Martin", "Lea", "A-100", f"Patient/{followed.pk}", f"patient {followed.pk}"):
        assert secret not in shown
    # The read is audited as the EHR's CDS Hooks identity.
    read = RecordRead.objects.get()
    assert (read.client_id, read.patient_ids) == (ehr_a.identity_id, [followed.pk])


def test_patient_view_finds_the_patient_by_mrn_in_context_or_by_our_fhir_id(
    ehr_a, ehr_key, followed
):
    by_mrn = patient_view_request("A-100")
    del by_mrn["fhirServer"]
    assert len(check_cards(call(PATIENT_VIEW, by_mrn, ehr_key))) == 3
    by_id = patient_view_request(str(followed.pk))
    by_id["fhirServer"] = f"{settings.SITE_URL}/fhir/r4"
    assert len(check_cards(call(PATIENT_VIEW, by_id, ehr_key))) == 3


def test_the_ehrs_own_id_is_never_read_as_ours(ehr_a, ehr_key, followed):
    # The EHR's id for someone else happens to be our patient's id: nothing is shown.
    request = patient_view_request(str(followed.pk))
    assert check_cards(call(PATIENT_VIEW, request, ehr_key)) == []
    assert not RecordRead.objects.exists()


def test_patient_view_of_another_clinics_patient_shows_nothing(clinic_b, ehr_key, followed):
    CdsHooksClient.register(clinic_b, "EHR of B", "https://ehr.b.example", ehr_key.jwks())
    request = patient_view_request("1288992", ehr_patient("A-100"))
    answer = call(PATIENT_VIEW, request, ehr_key, iss="https://ehr.b.example")
    assert check_cards(answer) == []


# --- order-select ---------------------------------------------------------------------------


def service_request(text: str, reason: str | None = None, id_: str = "mri-1") -> dict:
    order = {
        "resourceType": "ServiceRequest",
        "id": id_,
        "status": "draft",
        "intent": "order",
        "code": {"text": text},
        "subject": {"reference": "Patient/1288992"},
    }
    if reason:
        order["reasonCode"] = [{"text": reason}]
    return order


def order_select_request(mrn: str, *orders: dict, selections=None) -> dict:
    """The specification's order-select example, with ServiceRequests as the drafts."""
    return {
        "hookInstance": str(uuid.uuid4()),
        "hook": "order-select",
        "context": {
            "userId": "Practitioner/123",
            "patientId": "1288992",
            "encounterId": "89284",
            "selections": selections or [f"ServiceRequest/{o['id']}" for o in orders],
            "draftOrders": {
                "resourceType": "Bundle",
                "entry": [{"resource": order} for order in orders],
            },
        },
        "prefetch": {"patient": ehr_patient(mrn)},
    }


@pytest.fixture
def discectomy(clinic_a):
    """Operated 300 days ago: the gadolinium cutoff (day 183) is past."""
    patient = factories.patient(clinic_a, mrn="A-200")
    surgery = factories.surgery(patient, timezone.now() - timedelta(days=300),
                                procedure="discectomy", hardware=[])  # fmt: skip
    checkpoint(patient, surgery, "gadolinium_cutoff", "Gadolinium cutoff", 117,
               kind=CheckpointKind.MILESTONE)  # fmt: skip
    return patient


def test_a_gadolinium_mr_after_the_cutoff_gets_the_advice_with_its_source(
    ehr_a, ehr_key, discectomy
):
    order = service_request("MRI lumbar spine without and with gadolinium")
    cards = check_cards(call(ORDER_SELECT, order_select_request("A-200", order), ehr_key))
    assert len(cards) == 1
    card = cards[0]
    assert card["indicator"] == "info"
    assert "mature scar does not enhance" in card["detail"]
    assert "Disc herniation recurrence vs epidural fibrosis" in card["source"]["label"]


def test_a_gadolinium_mr_before_the_cutoff_or_without_contrast_gets_no_card(
    ehr_a, ehr_key, discectomy
):
    plain = service_request("MRI lumbar spine without contrast")
    assert check_cards(call(ORDER_SELECT, order_select_request("A-200", plain), ehr_key)) == []
    later = timezone.now() + timedelta(days=20)
    Checkpoint.objects.filter(code="gadolinium_cutoff").update(due_at=later, overdue_at=later)
    gad = service_request("MR L-spine W contrast IV")
    assert check_cards(call(ORDER_SELECT, order_select_request("A-200", gad), ehr_key)) == []


def test_an_mr_for_a_fusion_question_gets_the_modality_advice(ehr_a, ehr_key, followed):
    mri = service_request("MRI lumbar spine", reason="Suspected pseudarthrosis, L4-L5 fusion")
    cards = check_cards(call(ORDER_SELECT, order_select_request("A-100", mri), ehr_key))
    assert [card["detail"] for card in cards] == [MR_SHOWS_NO_HARDWARE]
    ct = service_request("CT lumbar spine", reason="Suspected pseudarthrosis", id_="ct-1")
    assert check_cards(call(ORDER_SELECT, order_select_request("A-100", ct), ehr_key)) == []


def test_only_the_selected_orders_are_read(ehr_a, ehr_key, followed):
    mri = service_request("MRI lumbar spine", reason="screw loosening?")
    other = service_request("CBC", id_="lab-1")
    request = order_select_request("A-100", mri, other, selections=["ServiceRequest/lab-1"])
    assert check_cards(call(ORDER_SELECT, request, ehr_key)) == []


def test_the_fusion_advice_needs_no_known_patient(ehr_a, ehr_key, db):
    mri = service_request("MRI lumbar spine", reason="hardware failure")
    cards = check_cards(call(ORDER_SELECT, order_select_request("UNKNOWN", mri), ehr_key))
    assert len(cards) == 1 and not RecordRead.objects.exists()


# --- refusals -------------------------------------------------------------------------------


def refused(answer) -> str:
    assert answer.status_code == 401, answer.content
    return answer.json()["detail"]


def test_a_request_without_a_jwt_is_refused(ehr_a, followed):
    assert call(PATIENT_VIEW, patient_view_request("A-100")).status_code == 401


def test_a_replayed_jwt_is_refused(ehr_a, ehr_key, followed):
    token = ehr_key.sign(claims(EHR, service_url(PATIENT_VIEW)))
    assert call(PATIENT_VIEW, patient_view_request("A-100"), token=token).status_code == 200
    assert "replayed" in refused(call(PATIENT_VIEW, patient_view_request("A-100"), token=token))


def view_claims(iss: str = EHR, service: str = PATIENT_VIEW, **more) -> dict:
    return claims(iss, service_url(service), **more)


def without_jti(key: KeyPair) -> str:
    return key.sign({k: v for k, v in view_claims().items() if k != "jti"})


BAD_JWTS = [
    ("expired", lambda key: key.sign(view_claims(lifetime=-60))),
    ("five minutes", lambda key: key.sign(view_claims(lifetime=900))),
    ("audience", lambda key: key.sign(view_claims(service=ORDER_SELECT))),
    ("unknown", lambda key: key.sign(view_claims(iss="https://other.example"))),
    ("algorithm", lambda key: jwt.encode(view_claims(), "s" * 32, "HS256", {"kid": key.kid})),
    ("algorithm", lambda key: jwt.encode(view_claims(), None, "none", {"kid": key.kid})),
    ("signature", lambda key: KeyPair("RSA", key.kid).sign(view_claims())),
    ("jti", without_jti),
]


@pytest.mark.parametrize("why, make", BAD_JWTS)
def test_a_bad_jwt_is_refused(ehr_a, ehr_key, followed, why, make):
    answer = call(PATIENT_VIEW, patient_view_request("A-100"), token=make(ehr_key))
    assert why in refused(answer)


def test_a_revoked_ehr_is_refused(ehr_a, ehr_key, followed):
    ehr_a.revoke()
    assert "revoked" in refused(call(PATIENT_VIEW, patient_view_request("A-100"), ehr_key))


def test_a_jwt_of_the_ehr_opens_nothing_else(ehr_a, ehr_key, followed):
    token = ehr_key.sign(claims(EHR, service_url(PATIENT_VIEW)))
    api = Client(headers={"Authorization": f"Bearer {token}"})
    assert api.get("/api/v1/patients/").status_code == 401
    assert api.get("/fhir/r4/Patient").status_code == 401


def test_a_hook_request_for_another_hook_or_service_is_refused(ehr_a, ehr_key, followed):
    wrong_hook = call(ORDER_SELECT, patient_view_request("A-100"), ehr_key)
    assert wrong_hook.status_code == 400
    assert call("no-such-service", patient_view_request("A-100"), ehr_key).status_code == 404
