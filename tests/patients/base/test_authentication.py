"""Who may call /api/v1/ at all: no token, a revoked token or a garbage token is a 401."""

import pytest
from rest_framework.test import APIClient

from imaging.models import Finding, ImagingExam
from patients.models import Patient, Surgery
from tests import factories


@pytest.fixture
def records(clinic_a):
    """One real row per endpoint, so that a 401 cannot be a 404 in disguise."""
    patient = factories.patient(clinic_a)
    surgery = factories.surgery(patient)
    exam = factories.exam(patient, surgery)
    return {"patients": patient, "surgeries": surgery, "exams": exam}


ENDPOINTS = ["patients", "surgeries", "exams"]


ACTIONS = {
    "list": ("get", False),
    "create": ("post", False),
    "retrieve": ("get", True),
    "patch": ("patch", True),
}


def row_counts() -> dict[str, int]:
    models = (Patient, Surgery, ImagingExam, Finding)
    return {model.__name__: model.objects.count() for model in models}


def assert_401_with_challenge(response) -> None:
    assert response.status_code == 401, response.content
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("name", ENDPOINTS)
def test_anonymous_gets_401_with_a_bearer_challenge(anonymous, records, name, action):
    method, on_detail = ACTIONS[action]
    url = f"/api/v1/{name}/{records[name].pk}/" if on_detail else f"/api/v1/{name}/"
    before = row_counts()

    response = getattr(anonymous.api, method)(url, {"report": "x"}, format="json")

    assert_401_with_challenge(response)
    assert row_counts() == before


def test_anonymous_patch_changes_nothing(anonymous, records):
    exam = records["exams"]
    response = anonymous.api.patch(f"/api/v1/exams/{exam.pk}/", {"report": "hacked"}, format="json")
    assert_401_with_challenge(response)
    exam.refresh_from_db()
    assert exam.report == ""


@pytest.mark.parametrize("name", ENDPOINTS)
def test_revoked_token_gets_401(integration_a, records, name):
    assert integration_a.api.get(f"/api/v1/{name}/").status_code == 200
    integration_a.client.revoke()

    assert_401_with_challenge(integration_a.api.get(f"/api/v1/{name}/"))
    assert_401_with_challenge(integration_a.api.get(f"/api/v1/{name}/{records[name].pk}/"))


def test_revoked_token_cannot_write(integration_a, clinic_a):
    integration_a.client.revoke()
    before = row_counts()
    response = integration_a.api.post(
        "/api/v1/patients/", {"mrn": "NEW1", "family_name": "Doe"}, format="json"
    )
    assert_401_with_challenge(response)
    assert row_counts() == before


@pytest.mark.parametrize("name", ENDPOINTS)
@pytest.mark.parametrize(
    "header",
    ["Bearer not-a-token", "Bearer ", "Bearer two words", "Bearer caf\u00e9"],
    ids=["garbage", "empty", "two-words", "non-ascii"],
)
def test_garbage_token_gets_401(records, name, header):
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=header)
    assert_401_with_challenge(api.get(f"/api/v1/{name}/"))


def test_garbage_token_does_not_fall_back_to_the_session(staff_a, records):
    """A logged-in browser that also sends a bad token is refused, not silently trusted."""
    staff_a.api.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")
    assert_401_with_challenge(staff_a.api.get("/api/v1/patients/"))
