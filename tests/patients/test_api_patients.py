"""/api/v1/patients/: create, read, PATCH, and the 400s that name the bad field."""

from datetime import timedelta

import pytest
from django.utils import timezone

from imaging.models import Finding, ImagingExam
from patients.models import Membership, Patient, PatientIdentifier, Surgery
from tests import factories

WRITERS = ["staff_a", "integration_a"]


@pytest.fixture(params=WRITERS)
def writer(request):
    return request.getfixturevalue(request.param)


@pytest.fixture
def staff_of_a_and_b(staff_a, clinic_b):
    """Alice also works for clinic B: she must say which clinic a new patient belongs to."""
    Membership.objects.create(user=staff_a.user, clinic=clinic_b)
    return staff_a


def row_counts() -> dict[str, int]:
    models = (Patient, PatientIdentifier, Surgery, ImagingExam, Finding)
    return {model.__name__: model.objects.count() for model in models}


def payload(**fields) -> dict:
    return {
        "mrn": "MRN-1",
        "family_name": "Doe",
        "given_name": "Jane",
        "birth_date": "1960-05-17",
        "sex": "female",
        "transitional_variant": "",
        "external_ids": [{"system": "urn:ehr", "value": "E-1"}],
    } | fields


def post_refused(persona, body: dict, field: str) -> dict:
    """POST must answer 400 naming `field` and write nothing."""
    before = row_counts()
    response = persona.api.post("/api/v1/patients/", body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()
    assert row_counts() == before
    return response.json()


def test_create_patient_in_the_callers_clinic(writer, clinic_a):
    response = writer.api.post("/api/v1/patients/", payload(), format="json")

    assert response.status_code == 201, response.content
    patient = Patient.objects.get(pk=response.json()["id"])
    assert patient.clinic == clinic_a
    assert (patient.mrn, patient.sex, str(patient.birth_date)) == ("MRN-1", "female", "1960-05-17")
    assert response.json()["external_ids"] == [{"system": "urn:ehr", "value": "E-1"}]


def test_retrieve_patient_shows_the_contract_fields(integration_a, clinic_a):
    patient = factories.patient(clinic_a, transitional_variant="L6 (sacralised)")
    body = integration_a.api.get(f"/api/v1/patients/{patient.pk}/").json()
    expected = {"id", "mrn", "family_name", "given_name", "birth_date", "sex"}
    assert expected | {"transitional_variant", "external_ids"} <= set(body)
    assert body["transitional_variant"] == "L6 (sacralised)"


def test_patch_patient_changes_only_the_given_field(writer, clinic_a):
    patient = factories.patient(clinic_a, given_name="Jane")
    response = writer.api.patch(
        f"/api/v1/patients/{patient.pk}/", {"family_name": "Smith"}, format="json"
    )
    assert response.status_code == 200, response.content
    patient.refresh_from_db()
    assert (patient.family_name, patient.given_name) == ("Smith", "Jane")


def test_patch_patient_replaces_external_ids(integration_a, clinic_a):
    patient = factories.patient(clinic_a)
    PatientIdentifier.objects.create(patient=patient, system="urn:old", value="1")
    response = integration_a.api.patch(
        f"/api/v1/patients/{patient.pk}/",
        {"external_ids": [{"system": "urn:new", "value": "2"}]},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["external_ids"] == [{"system": "urn:new", "value": "2"}]
    assert list(patient.external_ids.values_list("system", "value")) == [("urn:new", "2")]


def test_posting_a_known_mrn_updates_that_patient(writer, clinic_a):
    # [6/9]: upserts by natural key, so an EHR's retry or resend never duplicates.
    known = factories.patient(clinic_a, mrn="MRN-1", family_name="Before")
    response = writer.api.post(
        "/api/v1/patients/", payload(mrn="MRN-1", family_name="After"), format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["id"] == known.pk
    assert Patient.objects.filter(clinic=clinic_a, mrn="MRN-1").count() == 1
    known.refresh_from_db()
    assert known.family_name == "After"


def test_same_mrn_in_another_clinic_is_fine(writer, clinic_b):
    factories.patient(clinic_b, mrn="MRN-1")
    response = writer.api.post("/api/v1/patients/", payload(mrn="MRN-1"), format="json")
    assert response.status_code == 201, response.content
    assert Patient.objects.filter(mrn="MRN-1").count() == 2


def test_patch_to_a_duplicate_mrn_is_refused(integration_a, clinic_a):
    factories.patient(clinic_a, mrn="MRN-1")
    other = factories.patient(clinic_a, mrn="MRN-2")
    response = integration_a.api.patch(
        f"/api/v1/patients/{other.pk}/", {"mrn": "MRN-1"}, format="json"
    )
    assert response.status_code == 400
    assert "mrn" in response.json()
    other.refresh_from_db()
    assert other.mrn == "MRN-2"


def test_future_birth_date_is_refused(writer):
    tomorrow = timezone.now().date() + timedelta(days=1)
    post_refused(writer, payload(birth_date=tomorrow.isoformat()), "birth_date")


def test_malformed_birth_date_is_refused(writer):
    post_refused(writer, payload(birth_date="17/05/1960"), "birth_date")


def test_sex_outside_the_choices_is_refused(writer):
    post_refused(writer, payload(sex="f"), "sex")


def test_missing_mrn_is_refused(writer):
    body = payload()
    del body["mrn"]
    post_refused(writer, body, "mrn")


def test_external_id_listed_twice_is_refused(writer):
    twice = [{"system": "urn:ehr", "value": "E-1"}, {"system": "urn:ehr", "value": "E-1"}]
    post_refused(writer, payload(external_ids=twice), "external_ids")


def test_posting_a_known_external_id_updates_that_patient(writer, clinic_a):
    owner = factories.patient(clinic_a)
    PatientIdentifier.objects.create(patient=owner, system="urn:ehr", value="E-1")
    response = writer.api.post("/api/v1/patients/", payload(), format="json")
    assert response.status_code == 200, response.content
    assert response.json()["id"] == owner.pk
    assert Patient.objects.filter(clinic=clinic_a).count() == 1


def test_an_mrn_and_an_external_id_of_two_patients_are_refused(writer, clinic_a):
    owner = factories.patient(clinic_a)
    PatientIdentifier.objects.create(patient=owner, system="urn:ehr", value="E-1")
    factories.patient(clinic_a, mrn="MRN-OTHER")
    post_refused(writer, payload(mrn="MRN-OTHER"), "mrn")


def test_staff_of_two_clinics_must_name_the_clinic(staff_of_a_and_b):
    body = payload()
    body.pop("clinic", None)
    post_refused(staff_of_a_and_b, body, "clinic")


@pytest.mark.parametrize("slug", ["clinic-a", "clinic-b"])
def test_staff_of_two_clinics_creates_in_the_named_clinic(staff_of_a_and_b, slug):
    response = staff_of_a_and_b.api.post("/api/v1/patients/", payload(clinic=slug), format="json")
    assert response.status_code == 201, response.content
    assert Patient.objects.get(pk=response.json()["id"]).clinic.slug == slug


def test_unknown_clinic_slug_is_refused(staff_of_a_and_b):
    post_refused(staff_of_a_and_b, payload(clinic="no-such-clinic"), "clinic")


def test_another_clinics_slug_is_refused(integration_a, clinic_b):
    post_refused(integration_a, payload(clinic="clinic-b"), "clinic")


def test_another_clinics_slug_answers_as_an_unknown_slug(integration_a, clinic_b):
    """Refusing clinic-b differently from a missing slug would tell that clinic-b exists."""
    foreign = post_refused(integration_a, payload(clinic="clinic-b"), "clinic")
    unknown = post_refused(integration_a, payload(clinic="clinic-x"), "clinic")
    assert foreign["clinic"] == [text.replace("clinic-x", "clinic-b") for text in unknown["clinic"]]


def test_viewer_in_the_named_clinic_cannot_create_there(staff_a, clinic_b):
    """Alice is a viewer in B: naming B does not let her write there."""
    Membership.objects.create(user=staff_a.user, clinic=clinic_b, role="viewer")
    post_refused(staff_a, payload(clinic="clinic-b"), "clinic")


def test_patient_cannot_move_to_another_clinic(staff_of_a_and_b, clinic_a):
    patient = factories.patient(clinic_a)
    response = staff_of_a_and_b.api.patch(
        f"/api/v1/patients/{patient.pk}/", {"clinic": "clinic-b"}, format="json"
    )
    assert response.status_code == 400
    assert "clinic" in response.json()
    patient.refresh_from_db()
    assert patient.clinic == clinic_a


def test_patch_with_an_incomplete_external_id_is_refused(integration_a, clinic_a):
    """A PATCH is partial for the patient, not for each identifier in the list."""
    patient = factories.patient(clinic_a)
    PatientIdentifier.objects.create(patient=patient, system="urn:old", value="1")
    response = integration_a.api.patch(
        f"/api/v1/patients/{patient.pk}/",
        {"external_ids": [{"system": "urn:new"}]},
        format="json",
    )
    assert response.status_code == 400
    assert "value" in response.json()["external_ids"]["0"]
    assert list(patient.external_ids.values_list("system", "value")) == [("urn:old", "1")]
