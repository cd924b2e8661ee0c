"""Helpers shared by the integration tests: an integration of clinic A with chosen scopes,
an exam body, and POST with an `Idempotency-Key`."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from patients.models import ApiClient, Scope
from tests import factories
from tests.conftest import Persona


def persona_with(clinic, name: str, scopes: list[str] | None = None) -> Persona:
    """Another integration client of `clinic`, with its own token and scopes."""
    client, token = ApiClient.issue(clinic, name, scopes)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return Persona(api=api, clinic=clinic, client=client)


def post(persona: Persona, url: str, body, key: str | None = None):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return persona.api.post(url, body, format="json", **headers)


def exam_body(patient, accession: str, **fields) -> dict:
    body = {
        "patient": patient.pk,
        "modality": "XR",
        "performed_at": (timezone.now() - timedelta(days=1)).isoformat(),
        "accession_number": accession,
        "findings": [{"code": "bridging", "value": "partial", "level": "L4-L5"}],
    }
    return {**body, **fields}


@pytest.fixture
def operated(clinic_a):
    """A patient of clinic A operated 90 days ago."""
    patient = factories.patient(clinic_a)
    factories.surgery(patient, timezone.now() - timedelta(days=90))
    return patient


@pytest.fixture
def hooks_a(clinic_a) -> Persona:
    """Clinic A's integration allowed to manage webhooks."""
    return persona_with(clinic_a, "Hooks of A", [Scope.READ, Scope.WRITE, Scope.WEBHOOKS])
