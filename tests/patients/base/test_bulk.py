"""POST /api/v1/{patients,surgeries,exams}/bulk/: up to 1,000 records, the valid ones saved,
the invalid ones reported by index, in a number of queries that does not grow with them."""

from datetime import timedelta
from functools import partial

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from followup.models import SurgeryPlan
from followup.pipeline import refresh
from followup.tasks import refresh_surgeries
from imaging.models import Finding, ImagingExam
from patients.models import Patient, Surgery
from tests import factories
from tests.api import exam_body, post

EXAMS = "/api/v1/exams/bulk/"


def operated_patients(clinic, n: int) -> list[Patient]:
    patients = [factories.patient(clinic) for _ in range(n)]
    for patient in patients:
        factories.surgery(patient, timezone.now() - timedelta(days=90))
    return patients


def spoil(kind: int, record: dict, patients, others) -> tuple[object, str]:
    """Ten different ways to be wrong; the record and the field its error names."""
    future = (timezone.now() + timedelta(days=3)).isoformat()
    match kind:
        case 0:
            return {**record, "patient": 0}, "patient"
        case 1:
            return {**record, "patient": others.pk}, "patient"  # another clinic's
        case 2:
            return {**record, "modality": "ZZ"}, "modality"
        case 3:
            return {**record, "performed_at": future}, "performed_at"
        case 4:
            return {**record, "findings": [{"code": "no_such_code", "value": 1}]}, "findings"
        case 5:
            return {**record, "findings": [{"code": "screw_lucency_mm", "value": 99}]}, "findings"
        case 6:
            return {**record, "accession_number": "BULK0000"}, "non_field_errors"  # twice
        case 7:
            return "not a record", "non_field_errors"
        case 8:
            return {k: v for k, v in record.items() if k != "accession_number"}, "accession_number"
        case _:
            not_his = patients[1].surgeries.get().pk  # record's patient is patients[0]
            return {**record, "patient": patients[0].pk, "surgery": not_his}, "surgery"


def test_a_thousand_records_with_ten_bad_saves_990_and_reports_10(
    integration_a, clinic_a, clinic_b
):
    patients = operated_patients(clinic_a, 20)
    others = factories.patient(clinic_b)
    known = factories.exam(patients[5], accession_number="BULK0005", report="old")
    bad = [10 + 101 * n for n in range(10)]  # 10, 111, ... 919: one of each kind
    records = [exam_body(patients[i % 20], f"BULK{i:04d}") for i in range(1000)]
    expected_field = {}
    for kind, index in enumerate(bad):
        records[index], expected_field[index] = spoil(kind, records[index], patients, others)

    response = post(integration_a, EXAMS, records)

    assert response.status_code == 200, response.content[:500]
    body = response.json()
    assert len(body["saved"]) == 990 and len(body["errors"]) == 10
    assert [e["index"] for e in body["errors"]] == bad
    for error in body["errors"]:
        assert expected_field[error["index"]] in error["errors"], error
    saved = {s["index"]: s for s in body["saved"]}
    assert set(saved) == set(range(1000)) - set(bad)
    assert saved[5] == {"index": 5, "id": known.pk, "created": False}  # an upsert
    assert sum(not s["created"] for s in saved.values()) == 1
    exams = ImagingExam.objects.in_bulk([s["id"] for s in saved.values()])
    assert len(exams) == 990 == ImagingExam.objects.count()
    assert all(exams[s["id"]].accession_number == f"BULK{i:04d}" for i, s in saved.items())
    assert all(exams[s["id"]].surgery_id is not None for s in saved.values())
    assert Finding.objects.count() == 990  # one each; the known exam's were replaced
    known.refresh_from_db()
    assert known.report == "old"  # what a record leaves out is kept, as for one POST


def test_records_may_come_wrapped_in_an_object(integration_a, operated):
    body = {"records": [exam_body(operated, "WRAP1"), exam_body(operated, "WRAP2")]}

    response = post(integration_a, EXAMS, body)

    assert response.status_code == 200, response.content
    assert [s["created"] for s in response.json()["saved"]] == [True, True]


def test_touched_surgeries_are_marked_once_and_refreshed_in_tasks_of_50(
    integration_a, clinic_a, django_capture_on_commit_callbacks
):
    patients = operated_patients(clinic_a, 120)
    surgeries = set(Surgery.objects.values_list("pk", flat=True))
    SurgeryPlan.objects.update(stale_since=None)
    records = [exam_body(p, f"TASK{n:04d}") for n, p in enumerate(patients)]

    with (
        CaptureQueriesContext(connection) as queries,
        django_capture_on_commit_callbacks() as callbacks,
    ):
        response = post(integration_a, EXAMS, records)

    assert response.status_code == 200, response.content[:500]
    marks = [q for q in queries if "INSERT INTO followup_surgeryplan" in q["sql"]]
    assert len(marks) == 1, [q["sql"][:200] for q in queries]
    assert not Surgery.objects.filter(plan__stale_since__isnull=True).exists()
    nudges = [c for c in callbacks if isinstance(c, partial) and c.func is refresh.nudge]
    assert [c.args[0] for c in nudges] == [refresh_surgeries.name] * 3
    assert [len(c.args[1]) for c in nudges] == [50, 50, 20]
    assert {pk for c in nudges for pk in c.args[1]} == surgeries


def count_queries(persona, records) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = post(persona, EXAMS, records)
    assert response.status_code == 200, response.content[:500]
    assert not response.json()["errors"]
    return len(queries)


def test_the_query_count_does_not_grow_with_the_records(integration_a, clinic_a):
    patients = operated_patients(clinic_a, 201)
    count_queries(integration_a, [exam_body(patients[200], "WARM")])
    few = [exam_body(p, f"FEW{n}") for n, p in enumerate(patients[:10])]
    many = [exam_body(p, f"MANY{n}") for n, p in enumerate(patients[:200])]

    created = (count_queries(integration_a, few), count_queries(integration_a, many))
    updated = (count_queries(integration_a, few), count_queries(integration_a, many))

    assert created[0] == created[1], created
    assert updated[0] == updated[1], updated
    assert ImagingExam.objects.count() == 211


@pytest.mark.parametrize("name", ["patients", "surgeries", "exams"])
@pytest.mark.parametrize(
    "body",
    [{"records": "x"}, {"rows": []}, "x", [], {"records": [{}] * 1001}, [{}] * 1001],
    ids=["records-not-a-list", "no-records", "a-string", "empty", "1001-wrapped", "1001"],
)
def test_bad_bulk_input_is_a_400_naming_records(integration_a, name, body):
    response = post(integration_a, f"/api/v1/{name}/bulk/", body)

    assert response.status_code == 400, response.content[:300]
    assert list(response.json()) == ["records"]


def test_a_thousand_records_is_allowed(integration_a, clinic_a):
    records = [{"mrn": f"K{n:04d}", "family_name": "Bulk"} for n in range(1000)]

    response = post(integration_a, "/api/v1/patients/bulk/", {"records": records})

    assert response.status_code == 200
    assert len(response.json()["saved"]) == 1000


def test_patients_in_bulk_upsert_by_mrn_and_report_the_invalid(integration_a, clinic_a):
    known = factories.patient(clinic_a, mrn="P-KNOWN", family_name="Old")
    records = [
        {"mrn": "P-NEW", "family_name": "New"},
        {"mrn": "P-KNOWN", "family_name": "Renamed"},
        {"mrn": "P-BAD", "family_name": "Bad", "sex": "unicorn"},
        {"mrn": "P-NEW", "family_name": "Twice"},
    ]

    response = post(integration_a, "/api/v1/patients/bulk/", records)

    body = response.json()
    assert [(s["index"], s["created"]) for s in body["saved"]] == [(0, True), (1, False)]
    assert body["saved"][1]["id"] == known.pk
    assert [(e["index"], list(e["errors"])) for e in body["errors"]] == [
        (2, ["sex"]), (3, ["non_field_errors"])
    ]  # fmt: skip
    known.refresh_from_db()
    assert known.family_name == "Renamed"
    assert Patient.objects.count() == 2


def test_surgeries_in_bulk_save_the_valid_and_report_the_invalid(integration_a, clinic_a):
    patient = factories.patient(clinic_a)
    when = (timezone.now() - timedelta(days=10)).isoformat()
    records = [
        {"patient": patient.pk, "performed_at": when, "procedure": "tlif", "levels": ["L4-L5"]},
        {"patient": patient.pk, "performed_at": when, "procedure": "no_such_procedure"},
    ]

    response = post(integration_a, "/api/v1/surgeries/bulk/", records)

    body = response.json()
    assert [s["index"] for s in body["saved"]] == [0]
    assert [(e["index"], list(e["errors"])) for e in body["errors"]] == [(1, ["procedure"])]
    assert Surgery.objects.get().pk == body["saved"][0]["id"]


def test_two_records_with_one_study_uid_save_the_first_and_report_the_second(
    integration_a, operated
):
    records = [
        exam_body(operated, "UID-A", study_instance_uid="1.2.840.99.1"),
        exam_body(operated, "UID-B"),
        exam_body(operated, "UID-C", study_instance_uid="1.2.840.99.1"),
    ]

    response = post(integration_a, EXAMS, records)

    assert response.status_code == 200, response.content
    body = response.json()
    assert [s["index"] for s in body["saved"]] == [0, 1]
    assert body["errors"] == [{"index": 2, "errors": {
        "non_field_errors": ["Same Study Instance UID as index 0 in this request."]
    }}]  # fmt: skip
    assert set(ImagingExam.objects.values_list("accession_number", flat=True)) == {
        "UID-A", "UID-B"
    }  # fmt: skip
