"""Lumbar lordosis may be negative (a kyphotic lumbar spine): -60 to 120 degrees, in the
API and in the database's `finding_number_in_range` check (CLINICAL_RULES §3)."""

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from imaging.models import Finding, ImagingExam
from tests import factories


@pytest.fixture
def patient_a(clinic_a):
    patient = factories.patient(clinic_a)
    factories.surgery(patient, performed_at=timezone.now() - timedelta(days=400))
    return patient


def post(persona, patient, value):
    body = {
        "patient": patient.pk,
        "modality": "XR",
        "performed_at": (timezone.now() - timedelta(days=1)).isoformat(),
        "accession_number": "ACC-LL",
        "findings": [{"code": "lumbar_lordosis_deg", "value": value}],
    }
    return persona.api.post("/api/v1/exams/", body, format="json")


@pytest.mark.parametrize("value", [-60, -12.5, 0, 120])
def test_lordosis_within_minus_60_to_120_is_accepted(integration_a, patient_a, value):
    response = post(integration_a, patient_a, value)
    assert response.status_code == 201, response.content
    assert Finding.objects.get().value == float(value)


@pytest.mark.parametrize("value", [-61, -60.5, 120.5])
def test_lordosis_outside_its_range_is_refused(integration_a, patient_a, value):
    response = post(integration_a, patient_a, value)
    assert response.status_code == 400
    assert "between -60 and 120" in str(response.json()["findings"]["0"]["value"])
    assert ImagingExam.objects.count() == 0


def test_the_database_check_follows_the_vocabulary(patient_a):
    exam = factories.exam(patient_a)
    Finding.objects.create(exam=exam, code="lumbar_lordosis_deg", value=-45)
    with pytest.raises(IntegrityError), transaction.atomic():
        Finding.objects.create(exam=exam, code="lumbar_lordosis_deg", value=-61, side="left")
