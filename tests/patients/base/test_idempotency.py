"""`Idempotency-Key` on POST: a retry replays the first answer and never writes twice."""

import pytest

from followup.models import Alert, Severity
from followup.models.alerts import AlertCode, AlertEvent
from imaging.models import ImagingExam
from patients.models import IdempotencyKey, Patient
from tests import factories
from tests.api import exam_body, post
from tests.conftest import persona_with

PATIENTS = "/api/v1/patients/"
EXAMS = "/api/v1/exams/"


def new_patient(mrn: str, **fields) -> dict:
    return {"mrn": mrn, "family_name": "Durand", "given_name": "Lea", **fields}


def test_a_retry_replays_the_first_answer(integration_a):
    first = post(integration_a, PATIENTS, new_patient("IDEM1"), key="k-1")
    retry = post(integration_a, PATIENTS, new_patient("IDEM1"), key="k-1")

    assert first.status_code == 201, first.content
    assert "Idempotent-Replayed" not in first.headers
    assert retry.status_code == 201
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.json() == first.json()
    assert Patient.objects.filter(mrn="IDEM1").count() == 1


def test_a_retry_replays_the_first_answer_even_after_a_change(integration_a, operated):
    body = exam_body(operated, "ACC-IDEM-2", report="first")
    first = post(integration_a, EXAMS, body, key="k-2")
    exam_id = first.json()["id"]
    integration_a.api.patch(f"{EXAMS}{exam_id}/", {"report": "corrected"}, format="json")

    retry = post(integration_a, EXAMS, body, key="k-2")

    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.json() == first.json()  # the first answer, not a second write
    assert ImagingExam.objects.get().report == "corrected"


def test_the_same_key_with_another_body_is_a_422(integration_a):
    post(integration_a, PATIENTS, new_patient("IDEM3"), key="k-3")

    response = post(integration_a, PATIENTS, new_patient("IDEM4"), key="k-3")

    assert response.status_code == 422, response.content
    assert not Patient.objects.filter(mrn="IDEM4").exists()


def test_the_same_key_on_another_endpoint_is_a_422(integration_a, operated):
    post(integration_a, EXAMS, exam_body(operated, "ACC-IDEM-5"), key="k-5")

    response = post(integration_a, PATIENTS, new_patient("IDEM5"), key="k-5")

    assert response.status_code == 422
    assert not Patient.objects.filter(mrn="IDEM5").exists()


def test_the_same_key_from_two_clients_is_two_requests(integration_a, integration_b, clinic_a):
    other_a = persona_with(clinic_a, "Lab of A")

    answers = [
        post(integration_a, PATIENTS, new_patient("IDEM6"), key="shared"),
        post(other_a, PATIENTS, new_patient("IDEM7"), key="shared"),
        post(integration_b, PATIENTS, new_patient("IDEM6"), key="shared"),
    ]

    assert [a.status_code for a in answers] == [201, 201, 201]
    assert all("Idempotent-Replayed" not in a.headers for a in answers)
    assert len({a.json()["id"] for a in answers}) == 3
    assert IdempotencyKey.objects.filter(key="shared").count() == 3


def test_a_refused_request_keeps_nothing_and_the_key_can_be_used_again(integration_a):
    refused = post(integration_a, PATIENTS, {"mrn": "IDEM8"}, key="k-8")  # no family name

    assert refused.status_code == 400, refused.content
    assert "family_name" in refused.json()
    assert not IdempotencyKey.objects.filter(key="k-8").exists()

    fixed = post(integration_a, PATIENTS, new_patient("IDEM8"), key="k-8")

    assert fixed.status_code == 201, fixed.content
    assert "Idempotent-Replayed" not in fixed.headers


def test_a_bulk_post_is_replayed(integration_a, operated):
    body = {"records": [exam_body(operated, f"ACC-BULK-IDEM-{n}") for n in range(3)]}
    first = post(integration_a, f"{EXAMS}bulk/", body, key="bulk-1")

    retry = post(integration_a, f"{EXAMS}bulk/", body, key="bulk-1")

    assert first.status_code == 200, first.content
    assert len(first.json()["saved"]) == 3
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.json() == first.json()
    assert ImagingExam.objects.count() == 3


@pytest.fixture
def alert(operated):
    surgery = operated.surgeries.get()
    return Alert.objects.create(
        clinic=surgery.clinic, patient=operated, surgery=surgery,
        code=AlertCode.SCREW_LOOSENING, severity=Severity.HIGH, subject="L5:left",
        message="Screw loosening at L5 left",
    )  # fmt: skip


def test_an_alert_action_is_replayed(integration_a, alert):
    url = f"/api/v1/alerts/{alert.pk}/acknowledge/"
    first = post(integration_a, url, {}, key="ack-1")
    resolved = post(integration_a, f"/api/v1/alerts/{alert.pk}/resolve/", {"note": "revised"})
    events = AlertEvent.objects.filter(pgh_obj=alert).count()

    retry = post(integration_a, url, {}, key="ack-1")

    assert first.status_code == 200, first.content
    assert first.json()["status"] == "acknowledged"
    assert resolved.status_code == 200, resolved.content
    # Replayed, not run again: acknowledging a resolved alert would be refused.
    assert retry.status_code == 200
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.json() == first.json()
    alert.refresh_from_db()
    assert alert.status == "resolved"
    assert AlertEvent.objects.filter(pgh_obj=alert).count() == events


def test_a_get_ignores_the_key(integration_a, clinic_a):
    factories.patient(clinic_a)
    first = integration_a.api.get(PATIENTS, HTTP_IDEMPOTENCY_KEY="read-1")
    second = integration_a.api.get(PATIENTS, HTTP_IDEMPOTENCY_KEY="read-1")

    assert first.status_code == second.status_code == 200
    assert "Idempotent-Replayed" not in second.headers
    assert not IdempotencyKey.objects.exists()
