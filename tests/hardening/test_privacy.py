"""No patient data in logs; reads of patient records are audited with who read them."""

import logging

import pytest

from patients.models import ApiRequest, RecordRead
from tests import factories

NAME = "Zyxwvutsrqp"


@pytest.fixture
def everything_logged(caplog):
    caplog.set_level(logging.DEBUG)
    return caplog


def test_a_request_carrying_a_name_leaves_no_name_in_the_logs(everything_logged, integration_a):
    ok = integration_a.api.post(
        "/api/v1/patients/", {"mrn": "P-1", "family_name": NAME, "given_name": NAME},
        format="json",
    )  # fmt: skip
    bad = integration_a.api.post(
        "/api/v1/patients/", {"mrn": "P-2", "family_name": NAME, "birth_date": "3000-01-01"},
        format="json",
    )  # fmt: skip
    assert (ok.status_code, bad.status_code) == (201, 400)
    assert everything_logged.records, "the request should have logged something"
    assert NAME not in everything_logged.text
    logged = ApiRequest.objects.filter(client=integration_a.client)
    assert logged.count() == 2
    assert all(NAME not in row.endpoint for row in logged)


@pytest.mark.parametrize(
    "url",
    ["/api/v1/patients/{p}/", "/api/v1/patients/", "/api/v1/patients/{p}/timeline/",
     "/api/v1/exams/?patient={p}", "/fhir/r4/Patient/{p}", "/fhir/r4/ImagingStudy?patient={p}"],
)  # fmt: skip
def test_reads_of_patient_records_are_audited_with_the_client(integration_a, url):
    patient = factories.patient(integration_a.clinic)
    factories.exam(patient, factories.surgery(patient))
    response = integration_a.api.get(url.format(p=patient.pk))
    assert response.status_code == 200, response.content
    (read,) = RecordRead.objects.all()
    assert read.client == integration_a.client
    assert read.patient_ids == [patient.pk]


def test_a_staff_members_read_is_audited_with_the_user(staff_a):
    patient = factories.patient(staff_a.clinic)
    assert staff_a.api.get(f"/api/v1/patients/{patient.pk}/").status_code == 200
    read = RecordRead.objects.get()
    assert (read.user, read.client, read.patient_ids) == (staff_a.user, None, [patient.pk])


def test_a_list_that_shows_nobody_records_nothing(integration_a):
    assert integration_a.api.get("/api/v1/patients/").status_code == 200
    assert not RecordRead.objects.exists()
