"""A FHIR search costs the same number of queries for 1 row as for 20."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from patients.models import Assessment, PatientIdentifier
from tests import factories

from .conftest import alert, checkpoint


def add_patients(clinic, patient, n):
    for _ in range(n):
        other = factories.patient(clinic)
        PatientIdentifier.objects.create(patient=other, system="urn:ehr", value=other.mrn)


def add_surgeries(clinic, patient, n):
    for _ in range(n):
        surgery = factories.surgery(patient)
        checkpoint(surgery, "baseline_film", 0)
        checkpoint(surgery, "bridging_film", 90)


def add_exams(clinic, patient, n):
    surgery = factories.surgery(patient)
    for _ in range(n):
        findings = [
            {"code": "bridging", "value": "partial", "level": "L4-L5"},
            {"code": "screw_lucency_mm", "value": 1.5, "level": "L5", "side": "left"},
        ]
        factories.exam(patient, surgery, findings=findings)


def add_observations(clinic, patient, n):
    add_exams(clinic, patient, n // 2)
    for days in range(n // 2):
        Assessment.objects.create(
            patient=patient, assessed_at=timezone.now() - timedelta(days=days), nrs_leg=4, odi=30
        )


def add_alerts(clinic, patient, n):
    surgery = factories.surgery(patient)
    for number in range(n):
        alert(surgery, subject=f"L{number}")


SEARCHES = [
    ("Patient", add_patients),
    ("Procedure", add_surgeries),
    ("CarePlan", add_surgeries),
    ("ImagingStudy", add_exams),
    ("DiagnosticReport", add_exams),
    ("Observation", add_observations),
    ("Flag", add_alerts),
]


def queries(persona, url: str) -> tuple[int, int]:
    with CaptureQueriesContext(connection) as captured:
        response = persona.api.get(url)
    assert response.status_code == 200, response.content
    body = response.json()
    return len(captured), len(body.get("entry", body.get("group", [])))


@pytest.mark.parametrize(("resource_type", "add_rows"), SEARCHES, ids=[s[0] for s in SEARCHES])
def test_search_query_count_does_not_grow_with_rows(
    integration_a, clinic_a, resource_type, add_rows
):
    patient = factories.patient(clinic_a)
    url = f"/fhir/r4/{resource_type}" + (
        "" if resource_type == "Patient" else f"?patient={patient.pk}"
    )
    add_rows(clinic_a, patient, 2)
    few, few_rows = queries(integration_a, url)
    add_rows(clinic_a, patient, 20)
    many, many_rows = queries(integration_a, url)
    assert many_rows > few_rows >= 1
    assert many == few, f"{few} queries for {few_rows} rows, {many} for {many_rows}"


PAGED = [(t, add_rows) for t, add_rows in SEARCHES] + [
    ("DiagnosticReport?_include=DiagnosticReport:result", add_exams),
    ("Observation?category=imaging,survey&date=ge2000-01-01", add_observations),
]


@pytest.mark.parametrize(("query", "add_rows"), PAGED, ids=[p[0] for p in PAGED])
def test_every_page_costs_the_same_and_holds_new_rows_once(
    integration_a, clinic_a, query, add_rows
):
    """Paging through every page sends each row exactly once, every page costing no more
    queries than the first, itself the same for few rows as for many."""
    patient = factories.patient(clinic_a)
    add_rows(clinic_a, patient, 12)
    path, _, extra = query.partition("?")
    scope = "" if path == "Patient" else f"patient={patient.pk}&"
    url = f"/fhir/r4/{path}?{scope}{extra}&_count=5"
    every = {
        (e["resource"]["resourceType"], e["resource"]["id"])
        for e in integration_a.api.get(url.replace("_count=5", "_count=500")).json()["entry"]
        if e["search"]["mode"] == "match"
    }
    seen, counts = [], []
    while url:
        with CaptureQueriesContext(connection) as captured:
            bundle = integration_a.api.get(url).json()
        counts.append(len(captured))
        seen += [
            (e["resource"]["resourceType"], e["resource"]["id"])
            for e in bundle["entry"]
            if e["search"]["mode"] == "match"
        ]
        url = next((link["url"] for link in bundle["link"] if link["relation"] == "next"), None)
    assert len(seen) == len(set(seen)) == len(every) > 5
    assert set(seen) == every
    assert max(counts) == counts[0], counts


def test_evaluate_measure_query_count_does_not_grow_with_rows(integration_a, clinic_a):
    """The MeasureReport: the outcomes report's capture query, whatever the surgeries."""
    url = "/fhir/r4/Measure/followup-capture/$evaluate-measure?periodStart=2000&periodEnd=2100"
    patient = factories.patient(clinic_a)
    add_surgeries(clinic_a, patient, 6)
    few, few_groups = queries(integration_a, url)
    add_surgeries(clinic_a, patient, 30)
    checkpoint(factories.surgery(patient), "fusion_assessment", 0)
    many, many_groups = queries(integration_a, url)
    assert many_groups > few_groups >= 1
    assert many == few, f"{few} queries for {few_groups} groups, {many} for {many_groups}"
