"""What an integration client may do: its scopes, token rotation, revocation."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from rest_framework.test import APIClient

from followup.models import WebhookEndpoint
from patients.models import ApiClient, Patient, Scope
from tests import factories
from tests.api import post
from tests.conftest import persona_with

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=ZoneInfo("Europe/Paris"))
NEW_PATIENT = {"mrn": "SCOPE1", "family_name": "Petit"}


def bearer(token: str) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return api


# --- scopes -------------------------------------------------------------------------------


def test_a_read_only_client_reads_and_gets_403_on_writes(clinic_a):
    patient = factories.patient(clinic_a)
    reader = persona_with(clinic_a, "Reader", [Scope.READ])

    assert reader.api.get("/api/v1/patients/").status_code == 200
    assert post(reader, "/api/v1/patients/", NEW_PATIENT).status_code == 403
    assert post(reader, "/api/v1/patients/bulk/", [NEW_PATIENT]).status_code == 403
    patch = reader.api.patch(f"/api/v1/patients/{patient.pk}/", {"family_name": "X"})
    assert patch.status_code == 403
    assert Patient.objects.get().family_name != "X"
    assert not Patient.objects.filter(mrn="SCOPE1").exists()


def test_a_write_only_client_cannot_read(clinic_a):
    writer = persona_with(clinic_a, "Writer", [Scope.WRITE])

    assert writer.api.get("/api/v1/patients/").status_code == 403
    assert post(writer, "/api/v1/patients/", NEW_PATIENT).status_code == 201


def test_a_client_without_the_webhooks_scope_cannot_register(integration_a):
    assert Scope.WEBHOOKS not in integration_a.client.scopes
    body = {"url": "https://ehr.example.org/hooks"}

    assert post(integration_a, "/api/v1/webhooks/", body).status_code == 403
    assert integration_a.api.get("/api/v1/webhooks/").status_code == 403
    assert not WebhookEndpoint.objects.exists()


def test_a_client_with_the_webhooks_scope_registers(hooks_a):
    response = post(hooks_a, "/api/v1/webhooks/", {"url": "https://ehr.example.org/hooks"})

    assert response.status_code == 201, response.content
    assert WebhookEndpoint.objects.get().clinic == hooks_a.clinic


def test_a_client_without_the_fhir_scope_gets_403_on_fhir(clinic_a, integration_a):
    factories.patient(clinic_a)
    no_fhir = persona_with(clinic_a, "No FHIR", [Scope.READ, Scope.WRITE])

    assert no_fhir.api.get("/fhir/r4/Patient").status_code == 403
    assert no_fhir.api.get("/api/v1/patients/").status_code == 200
    assert integration_a.api.get("/fhir/r4/Patient").status_code == 200


# --- rotation and revocation --------------------------------------------------------------


@pytest.fixture
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def statuses(*apis: APIClient) -> list[int]:
    return [api.get("/api/v1/patients/").status_code for api in apis]


def test_both_tokens_work_during_the_changeover_and_only_the_new_one_after(clinic_a, clock):
    client, old = ApiClient.issue(clinic_a, "Rotating")
    new = client.rotate(changeover=timedelta(hours=24))

    assert new != old
    assert statuses(bearer(old), bearer(new)) == [200, 200]
    clock.move_to(T0 + timedelta(hours=23, minutes=59))
    assert statuses(bearer(old), bearer(new)) == [200, 200]
    clock.move_to(T0 + timedelta(hours=24, seconds=1))
    assert statuses(bearer(old), bearer(new)) == [401, 200]
    clock.move_to(T0 + timedelta(days=30))
    assert statuses(bearer(old), bearer(new)) == [401, 200]


def test_a_second_rotation_ends_the_first_token_at_once(clinic_a, clock):
    client, first = ApiClient.issue(clinic_a, "Rotating twice")
    second = client.rotate()
    third = client.rotate()

    assert statuses(bearer(first), bearer(second), bearer(third)) == [401, 200, 200]


def test_the_old_token_writes_as_the_same_client_during_the_changeover(clinic_a, clock):
    client, old = ApiClient.issue(clinic_a, "Rotating writer")
    client.rotate()

    response = bearer(old).post("/api/v1/patients/", NEW_PATIENT, format="json")

    assert response.status_code == 201
    assert client.requests.filter(method="POST", status=201).count() == 1


def test_a_revoked_client_gets_401_with_either_token(clinic_a, clock):
    client, old = ApiClient.issue(clinic_a, "Revoked")
    new = client.rotate()
    client.revoke()

    assert statuses(bearer(old), bearer(new)) == [401, 401]
    response = bearer(new).post("/api/v1/patients/", NEW_PATIENT, format="json")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert not Patient.objects.exists()
