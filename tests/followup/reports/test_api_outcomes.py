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


def test_a_manager_edits_the_standards_in_the_admin_and_the_report_follows(staff_a, operated):
    """The minimum group is data: a clinic's new version (saved in the admin, by a manager)
    suppresses the group of six it showed before; the shared version is left as it was."""
    from followup.models import OutcomeStandards
    from patients.models import Role
    from tests.conftest import make_staff
    from tests.followup.browser_form import form_data

    shared = OutcomeStandards.objects.current(None)
    browser = Client()
    browser.force_login(make_staff("manager-a", staff_a.clinic, Role.MANAGER))
    url = f"/admin/followup/outcomestandards/{shared.pk}/change/"
    data = form_data(browser.get(url).content.decode(), "outcomestandards_form")
    data |= {"clinic": str(staff_a.clinic.pk), "min_group_size": "7", "_save": "Save"}
    assert browser.post(url, data).status_code == 302

    mine = OutcomeStandards.objects.current(staff_a.clinic.pk)
    assert (mine.clinic, mine.min_group_size) == (staff_a.clinic, 7)
    assert mine.pk != shared.pk  # a new version, the clinic's own
    assert OutcomeStandards.objects.current(None).min_group_size == shared.min_group_size
    body = staff_a.api.get(URL, {"surgeon": "Dr A", "time_point": "3m"}).json()
    prom = next(r for r in body["proms"] if r["measure"] == "nrs_back")
    assert prom["n"] == 6 and prom["mean_improvement"]["value"] is None


def test_a_clinician_cannot_edit_the_standards(staff_a, operated):
    from followup.models import OutcomeStandards

    shared = OutcomeStandards.objects.current(None)
    browser = Client()
    browser.force_login(staff_a.user)  # a clinician
    url = f"/admin/followup/outcomestandards/{shared.pk}/change/"
    assert browser.post(url, {"min_group_size": "1"}).status_code == 403
    assert OutcomeStandards.objects.count() == 1
