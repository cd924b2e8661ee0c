"""Helpers for tests that speak the REST API as an integration: POST with an
`Idempotency-Key`, an exam body."""

from datetime import timedelta

from django.utils import timezone

from tests.conftest import Persona


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
