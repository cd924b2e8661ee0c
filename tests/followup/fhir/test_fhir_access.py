"""Who sees what over FHIR: no token is a 401, another clinic's resource a 404, both as
OperationOutcomes; a search never reaches across clinics."""

import pytest

from .conftest import fhir_get, fhir_post, search, transaction, valid

TYPES = ["Procedure", "ImagingStudy", "DiagnosticReport", "CarePlan", "Flag", "Observation"]


def read_urls(record) -> list[str]:
    exam, surgery = record["exam"], record["surgery"]
    finding = exam.findings.first()
    return [
        f"/fhir/r4/Patient/{record['patient'].pk}",
        f"/fhir/r4/Procedure/{surgery.pk}",
        f"/fhir/r4/ImagingStudy/{exam.pk}",
        f"/fhir/r4/DiagnosticReport/{exam.pk}",
        f"/fhir/r4/Observation/finding-{finding.pk}",
        f"/fhir/r4/Observation/assessment-{record['assessment'].pk}-odi",
        f"/fhir/r4/CarePlan/{surgery.pk}",
        f"/fhir/r4/Flag/{record['alert'].pk}",
    ]


def test_no_token_is_401_everywhere(anonymous, record):
    urls = [
        *read_urls(record),
        "/fhir/r4/metadata",
        "/fhir/r4/Patient?identifier=x",
        "/fhir/r4/Nothing",
    ]
    for url in urls:
        outcome = valid(fhir_get(anonymous, url, status=401))
        assert outcome["issue"][0]["code"] == "login", url
    response = fhir_post(anonymous, "/fhir/r4/", transaction())
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_another_clinics_resources_do_not_exist(integration_b, record):
    for url in read_urls(record):
        outcome = valid(fhir_get(integration_b, url, status=404))
        assert outcome["resourceType"] == "OperationOutcome"
        assert outcome["issue"][0]["code"] == "not-found", url


@pytest.mark.parametrize("resource_type", TYPES)
def test_another_clinics_patient_has_nothing(integration_a, integration_b, record, resource_type):
    url = f"/fhir/r4/{resource_type}?patient={record['patient'].pk}"
    assert search(integration_b, url) == []
    assert search(integration_a, url) != []


def test_the_identifier_search_stays_in_the_clinic(integration_b, record):
    assert search(integration_b, f"/fhir/r4/Patient?identifier={record['patient'].mrn}") == []
    assert search(integration_b, "/fhir/r4/Patient") == []


def test_a_missing_resource_and_an_unknown_type_are_404_outcomes(integration_a, record):
    for url in (
        "/fhir/r4/Patient/999999",
        "/fhir/r4/Patient/abc",
        "/fhir/r4/Observation/x-1",
        f"/fhir/r4/Observation/assessment-{record['assessment'].pk}-nrs-leg",
        "/fhir/r4/Encounter",
        "/fhir/r4/Patient/1/$everything",
    ):
        outcome = valid(fhir_get(integration_a, url, status=404))
        assert outcome["issue"][0]["code"] == "not-found", url


def test_staff_read_their_clinic_through_their_session(staff_a, staff_b, record):
    patient_url = f"/fhir/r4/Patient/{record['patient'].pk}"
    assert fhir_get(staff_a, patient_url)["id"] == str(record["patient"].pk)
    fhir_get(staff_b, patient_url, status=404)


def test_a_viewer_cannot_import(viewer_a):
    response = fhir_post(viewer_a, "/fhir/r4/", transaction())
    assert response.status_code == 403
    assert valid(response.json())["issue"][0]["code"] == "forbidden"


def test_every_fhir_view_declares_its_scope():
    from django.urls import get_resolver

    from followup.fhir import urls

    for pattern in urls.urlpatterns:
        view = pattern.callback
        if pattern.name == "fhir-smart-configuration":
            continue  # public by the SMART specification: how to get a token
        view_class = getattr(view, "cls", None) or view.view_class
        assert view_class.required_scope == "fhir", pattern
    assert get_resolver().resolve("/fhir/r4/metadata").func.view_class.required_scope == "fhir"
