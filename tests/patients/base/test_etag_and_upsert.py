"""ETags on GET, `If-Match` on PATCH, and POST as an upsert by natural key."""

import pytest

from imaging.models import ImagingExam
from patients.models import Patient
from tests import factories
from tests.api import exam_body, post


@pytest.fixture
def rows(clinic_a, operated):
    return {"patients": operated, "exams": factories.exam(operated, report="first")}


CHANGES = {"patients": ("given_name", "Changed"), "exams": ("report", "changed")}


@pytest.mark.parametrize("name", ["patients", "exams"])
def test_a_patch_with_the_current_etag_applies(integration_a, rows, name):
    url = f"/api/v1/{name}/{rows[name].pk}/"
    field, value = CHANGES[name]
    etag = integration_a.api.get(url).headers["ETag"]

    response = integration_a.api.patch(url, {field: value}, format="json", HTTP_IF_MATCH=etag)

    assert response.status_code == 200, response.content
    assert response.headers["ETag"] not in ("", etag)
    assert response.headers["ETag"] == integration_a.api.get(url).headers["ETag"]


@pytest.mark.parametrize("name", ["patients", "exams"])
def test_a_patch_with_a_stale_etag_is_a_412_and_changes_nothing(integration_a, staff_a, rows, name):
    url = f"/api/v1/{name}/{rows[name].pk}/"
    field, value = CHANGES[name]
    stale = integration_a.api.get(url).headers["ETag"]
    staff_a.api.patch(url, {field: "by staff"}, format="json")  # someone else, meanwhile
    current = integration_a.api.get(url)

    response = integration_a.api.patch(url, {field: value}, format="json", HTTP_IF_MATCH=stale)

    assert response.status_code == 412, response.content
    assert response.headers["ETag"] == current.headers["ETag"]
    assert integration_a.api.get(url).json() == current.json()
    rows[name].refresh_from_db()
    assert getattr(rows[name], field) == "by staff"


def test_if_match_star_and_a_list_with_the_current_tag_apply(integration_a, rows):
    url = f"/api/v1/exams/{rows['exams'].pk}/"
    star = integration_a.api.patch(url, {"report": "a"}, format="json", HTTP_IF_MATCH="*")
    current = star.headers["ETag"]

    listed = integration_a.api.patch(
        url, {"report": "b"}, format="json", HTTP_IF_MATCH=f'W/"0000", {current}'
    )

    assert star.status_code == 200 and listed.status_code == 200, listed.content
    assert ImagingExam.objects.get().report == "b"


def test_posting_a_known_accession_number_updates_that_exam(integration_a, operated):
    first = post(integration_a, "/api/v1/exams/", exam_body(operated, "ACC-UP", report="a"))
    again = post(integration_a, "/api/v1/exams/", exam_body(operated, "ACC-UP", report="b"))

    assert (first.status_code, again.status_code) == (201, 200), again.content
    assert again.json()["id"] == first.json()["id"]
    assert ImagingExam.objects.get().report == "b"


def test_posting_a_known_mrn_updates_that_patient(integration_a):
    body = {"mrn": "UP1", "family_name": "Martin", "given_name": "Ana"}
    first = post(integration_a, "/api/v1/patients/", body)
    again = post(integration_a, "/api/v1/patients/", {**body, "given_name": "Anna"})

    assert (first.status_code, again.status_code) == (201, 200), again.content
    assert again.json()["id"] == first.json()["id"]
    assert Patient.objects.get().given_name == "Anna"


def test_posting_a_known_external_identifier_updates_that_patient(integration_a):
    ehr_id = [{"system": "urn:oid:1.2.3", "value": "E-77"}]
    first = post(integration_a, "/api/v1/patients/",
                 {"mrn": "UP2", "family_name": "Roux", "external_ids": ehr_id})  # fmt: skip

    # The EHR corrected the MRN: its own identifier still names the same patient.
    again = post(integration_a, "/api/v1/patients/",
                 {"mrn": "UP2-B", "family_name": "Roux", "external_ids": ehr_id})  # fmt: skip

    assert (first.status_code, again.status_code) == (201, 200), again.content
    assert again.json()["id"] == first.json()["id"]
    assert Patient.objects.get().mrn == "UP2-B"


def test_another_clinics_mrn_is_not_a_match(integration_a, clinic_b):
    theirs = factories.patient(clinic_b, mrn="SHARED")

    response = post(integration_a, "/api/v1/patients/", {"mrn": "SHARED", "family_name": "X"})

    assert response.status_code == 201, response.content
    assert response.json()["id"] != theirs.pk
    theirs.refresh_from_db()
    assert theirs.family_name != "X"
