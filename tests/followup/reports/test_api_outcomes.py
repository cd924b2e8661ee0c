"""GET /api/v1/reports/outcomes/: the clinic's figures, scoped like every endpoint (another
clinic's report is a 404), validated, audited as a read, documented in the schema."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from patients.models import Assessment, RecordRead
from tests import factories

URL = "/api/v1/reports/outcomes/"
pytestmark = pytest.mark.django_db


@pytest.fixture
def operated(clinic_a):
    """Six discectomies by Dr A with baseline and 3-month scores (4 points better)."""
    for n in range(6):
        patient = factories.patient(clinic_a, mrn=f"MRN-{n}", family_name=f"Name{n}")
        surgery = factories.surgery(
            patient, timezone.now() - timedelta(days=200), procedure="discectomy",
            levels=["L4-L5"], surgeon="Dr A",
        )  # fmt: skip
        for day, score in ((-3, 8), (90, 4)):
            Assessment.objects.create(
                patient=patient, surgery=surgery, nrs_back=score + n % 2,
                assessed_at=surgery.performed_at + timedelta(days=day),
            )  # fmt: skip


def test_staff_read_their_clinics_report(staff_a, operated):
    response = staff_a.api.get(URL, {"surgeon": "Dr A", "time_point": "3m"})
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["clinic"]["id"] == staff_a.clinic.pk
    prom = next(r for r in body["proms"] if r["measure"] == "nrs_back")
    assert prom["n"] == 6 and prom["mean_improvement"]["value"] == 4.0
    assert prom["responder_rate"]["value"] == 1.0
    # The read is audited, with nobody's record in it.
    read = RecordRead.objects.get(endpoint="/api/v1/reports/outcomes/")
    assert read.user == staff_a.user and read.patient_ids == []


def test_an_integration_reads_its_own_clinic(integration_a, operated):
    assert integration_a.api.get(URL).status_code == 200


def test_another_clinics_report_is_a_404(staff_a, staff_b, integration_b, operated):
    assert staff_b.api.get(URL, {"clinic": staff_a.clinic.pk}).status_code == 404
    assert integration_b.api.get(URL, {"clinic": staff_a.clinic.pk}).status_code == 404
    own = staff_b.api.get(URL).json()  # their own clinic: no surgery of A's in it
    assert own["clinic"]["id"] == staff_b.clinic.pk and own["groups"][0]["surgeries"] == 0
    assert not RecordRead.objects.filter(clinic=staff_a.clinic).exists()


def test_bad_filters_are_a_400_naming_the_field(staff_a):
    response = staff_a.api.get(URL, {"procedure": "brain", "group_by": "patient"})
    assert response.status_code == 400
    assert "procedure" in str(response.json()) and "group_by" in str(response.json())


def test_anonymous_callers_get_nothing(clinic_a):
    assert Client().get(URL).status_code in (401, 403)


def test_the_schema_documents_it(db):
    schema = Client().get("/api/schema/", {"format": "json"}).json()
    operation = schema["paths"][URL]["get"]
    names = {p["name"] for p in operation["parameters"]}
    assert {"surgeon", "procedure", "levels", "performed_from", "time_point"} <= names
    assert "OutcomesReport" in str(operation["responses"]["200"])
