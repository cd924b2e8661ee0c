"""A clinic with one of everything the API and FHIR show, and the personas that look at it."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from followup.models import (
    Alert,
    Checkpoint,
    FhirSubscription,
    FhirTopic,
    Subscription,
    WebhookEndpoint,
)
from patients.models import (
    ApiClient,
    Assessment,
    Clinic,
    ClinicalEvent,
    PatientIdentifier,
    Scope,
)
from tests import factories
from tests.conftest import Persona

ALL_SCOPES = [Scope.READ, Scope.WRITE, Scope.FHIR, Scope.WEBHOOKS]


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Argon2 takes 0.3 s per staff member made; these tests log in with sessions."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def integration(clinic: Clinic, name: str, scopes=ALL_SCOPES) -> Persona:
    """An integration client of `clinic` with every scope (webhooks included)."""
    client, token = ApiClient.issue(clinic, name, list(scopes))
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    persona = Persona(api=api, clinic=clinic, client=client)
    persona.token = token
    return persona


def clinic_records(clinic: Clinic, owner=None, tag: str = "") -> dict:
    """One row of each kind the API serves, for `clinic` (names carry `tag`)."""
    now = timezone.now()
    patient = factories.patient(clinic, family_name=f"Secret{tag}", given_name=f"Given{tag}")
    identifier = PatientIdentifier.objects.create(
        patient=patient, system="urn:oid:1.2.3.4", value=f"EHR-{tag}{patient.pk}"
    )
    surgery = factories.surgery(patient, now - timedelta(days=120), surgeon=f"Dr {tag}")
    exam = factories.exam(
        patient,
        surgery,
        performed_at=now - timedelta(days=90),
        study_instance_uid=f"1.2.840.99999.{patient.pk}",
        report=f"Report {tag}",
        findings=[
            {"code": "bridging", "value": "partial", "level": "L4-L5"},
            {"code": "screw_lucency_mm", "value": 2.5, "level": "L5", "side": "left"},
        ],
    )
    opens = surgery.performed_at + timedelta(days=90)
    checkpoint = Checkpoint.objects.create(
        clinic=clinic,
        patient=patient,
        surgery=surgery,
        code="bridging_film_x",
        label="Bridging film",
        kind="exam",
        opens_at=opens,
        due_at=opens + timedelta(days=42),
        overdue_at=opens + timedelta(days=49),
        modalities=["XR"],
    )
    alert = Alert.objects.create(
        clinic=clinic,
        patient=patient,
        surgery=surgery,
        exam=exam,
        code="screw_loosening",
        subject="L5:left:screw_loosening",
        severity="high",
        message=f"Screw loosening {tag}",
    )
    assessment = Assessment.objects.create(
        patient=patient, surgery=surgery, assessed_at=now - timedelta(days=60), nrs_back=3, odi=28
    )
    event = ClinicalEvent.objects.create(
        patient=patient,
        surgery=surgery,
        code="new_radicular_pain",
        occurred_at=now - timedelta(days=10),
        notes=f"Pain {tag}",
    )
    webhook = WebhookEndpoint.objects.create(clinic=clinic, url=f"https://hooks.example/{tag}")
    hooks_client, hooks_token = ApiClient.issue(
        clinic, f"Subscriber {tag}", [Scope.READ, Scope.FHIR]
    )
    fhir_subscription = FhirSubscription.objects.create(
        clinic=clinic, client=hooks_client, topic=FhirTopic.ALERT, patient_id=patient.pk,
        endpoint=f"https://hooks.example/fhir-{tag}",
    )  # fmt: skip
    fhir_subscription.subscriber_token = hooks_token  # a subscription is its client's alone
    records = {
        "patient": patient,
        "identifier": identifier,
        "surgery": surgery,
        "exam": exam,
        "finding": exam.findings.order_by("pk").first(),
        "checkpoint": checkpoint,
        "alert": alert,
        "assessment": assessment,
        "event": event,
        "webhook": webhook,
        "fhir_subscription": fhir_subscription,
    }
    if owner is not None:
        records["subscription"] = Subscription.objects.create(user=owner, clinic=clinic)
    return records


@pytest.fixture
def records_a(clinic_a, staff_a) -> dict:
    return clinic_records(clinic_a, staff_a.user, tag="AAA")


@pytest.fixture
def records_b(clinic_b, staff_b) -> dict:
    return clinic_records(clinic_b, staff_b.user, tag="BBB")


@pytest.fixture
def full_integration_a(clinic_a) -> Persona:
    return integration(clinic_a, "Everything of A")


@pytest.fixture
def full_integration_b(clinic_b) -> Persona:
    return integration(clinic_b, "Everything of B")
