"""The commands that set up API access: create_clinic, create_api_client, revoke_api_client."""

import hashlib
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from patients.models import ApiClient, Clinic


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def bearer(token: str) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return api


def test_create_api_client_prints_the_token_as_the_last_line(clinic_a):
    token = run("create_api_client", "clinic-a", "EHR").splitlines()[-1]

    client = ApiClient.objects.get(clinic=clinic_a, name="EHR")
    assert ApiClient.authenticate(token) == client


def test_printed_token_opens_the_api_for_its_clinic(clinic_a):
    token = run("create_api_client", "clinic-a", "EHR").splitlines()[-1]
    response = bearer(token).get("/api/v1/patients/")
    assert response.status_code == 200


def test_database_holds_only_the_tokens_hash(clinic_a):
    token = run("create_api_client", "clinic-a", "EHR").splitlines()[-1]

    row = ApiClient.objects.filter(name="EHR").values().get()
    assert row["token_hash"] == hashlib.sha256(token.encode()).hexdigest()
    assert not any(token in str(value) for value in row.values())


def test_create_api_client_refuses_an_unknown_clinic(db):
    with pytest.raises(CommandError, match="no-such-clinic"):
        run("create_api_client", "no-such-clinic", "EHR")
    assert not ApiClient.objects.exists()


def test_create_api_client_refuses_a_name_taken_in_the_clinic(clinic_a):
    run("create_api_client", "clinic-a", "EHR")
    with pytest.raises(CommandError, match="EHR"):
        run("create_api_client", "clinic-a", "EHR")
    assert ApiClient.objects.filter(clinic=clinic_a).count() == 1


def test_revoke_api_client_makes_the_token_answer_401(clinic_a):
    token = run("create_api_client", "clinic-a", "EHR").splitlines()[-1]
    assert bearer(token).get("/api/v1/patients/").status_code == 200

    run("revoke_api_client", "clinic-a", "EHR")

    assert bearer(token).get("/api/v1/patients/").status_code == 401


def test_revoke_api_client_leaves_other_clients_working(clinic_a):
    kept = run("create_api_client", "clinic-a", "Kept").splitlines()[-1]
    run("create_api_client", "clinic-a", "Revoked")

    run("revoke_api_client", "clinic-a", "Revoked")

    assert bearer(kept).get("/api/v1/patients/").status_code == 200


def test_revoke_api_client_refuses_an_unknown_client(clinic_a):
    with pytest.raises(CommandError):
        run("revoke_api_client", "clinic-a", "nobody")


def test_create_clinic_creates_it_with_its_time_zone(db):
    run("create_clinic", "north", "--name", "North", "--timezone", "Europe/Paris")
    clinic = Clinic.objects.get(slug="north")
    assert (clinic.name, clinic.timezone) == ("North", "Europe/Paris")


def test_create_clinic_is_idempotent_for_an_existing_slug(db):
    run("create_clinic", "north", "--name", "North", "--timezone", "Europe/Paris")
    run("create_clinic", "north", "--name", "Renamed", "--timezone", "UTC")

    clinic = Clinic.objects.get(slug="north")
    assert (clinic.name, clinic.timezone) == ("North", "Europe/Paris")


def test_create_clinic_refuses_a_bad_time_zone(db):
    with pytest.raises(CommandError, match="Mars/Olympus_Mons"):
        run("create_clinic", "north", "--name", "North", "--timezone", "Mars/Olympus_Mons")
    assert not Clinic.objects.exists()
