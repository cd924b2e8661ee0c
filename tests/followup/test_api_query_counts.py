"""List endpoints cost the same number of queries for 1 row as for a full page of 50."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from patients.models import PatientIdentifier
from tests import factories

CALLERS = ["integration_a", "staff_a"]
PAGE = 50


@pytest.fixture(params=CALLERS)
def caller(request):
    return request.getfixturevalue(request.param)


def add_patients(clinic, n: int) -> None:
    for _ in range(n):
        patient = factories.patient(clinic)
        PatientIdentifier.objects.create(patient=patient, system="urn:ehr", value=patient.mrn)


def add_surgeries(clinic, n: int) -> None:
    for _ in range(n):
        factories.surgery(factories.patient(clinic))


def add_exams(clinic, n: int) -> None:
    for _ in range(n):
        patient = factories.patient(clinic)
        factories.exam(
            patient,
            factories.surgery(patient),
            findings=[
                {"code": "bridging", "value": "partial", "level": "L4-L5"},
                {"code": "screw_lucency_mm", "value": 1.5, "level": "L5", "side": "left"},
            ],
        )


def queries_for_list(api, url: str, expected_rows: int) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = api.get(url)
    assert response.status_code == 200, response.content
    assert len(response.json()["results"]) == expected_rows
    return len(captured)


@pytest.mark.parametrize(
    ("url", "add_rows"),
    [
        ("/api/v1/patients/", add_patients),
        ("/api/v1/surgeries/", add_surgeries),
        ("/api/v1/exams/", add_exams),
    ],
    ids=["patients", "surgeries", "exams"],
)
def test_list_query_count_does_not_grow_with_rows(caller, clinic_a, clinic_b, url, add_rows):
    add_rows(clinic_b, 3)  # another clinic's rows must not change the count either
    add_rows(clinic_a, 1)
    one_row = queries_for_list(caller.api, url, expected_rows=1)

    add_rows(clinic_a, PAGE - 1)
    full_page = queries_for_list(caller.api, url, expected_rows=PAGE)

    assert full_page == one_row


def test_exam_list_shows_the_prefetched_findings(integration_a, clinic_a):
    """The constant count above is not bought by leaving the findings out."""
    add_exams(clinic_a, 2)
    response = integration_a.api.get("/api/v1/exams/")
    assert [len(row["findings"]) for row in response.json()["results"]] == [2, 2]


def test_patient_list_shows_the_prefetched_external_ids(integration_a, clinic_a):
    add_patients(clinic_a, 2)
    response = integration_a.api.get("/api/v1/patients/")
    assert [len(row["external_ids"]) for row in response.json()["results"]] == [1, 1]
