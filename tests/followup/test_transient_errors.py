"""A deadlock, a serialization failure or a lost connection is retried once inside the
request; a second one answers 503 with Retry-After (JSON for /api/, an OperationOutcome
for /fhir/, plain text for the admin), never an HTML 500, and leaves nothing written.

The failures are real PostgreSQL errors: the first queries matching a pattern are
replaced by a statement that raises the SQLSTATE, or that ends the connection.
"""

import contextlib
import logging
import re

import pytest
from django.db import connection

from imaging.models import Finding, ImagingExam
from patients.base.api.idempotency import HEADER
from patients.models import IdempotencyKey
from tests import factories

DEADLOCK, SERIALIZATION = "40P01", "40001"
FINDINGS_INSERT = 'INSERT INTO "imaging_finding"'  # after the exam itself is written


@contextlib.contextmanager
def failing(pattern: str, times: int, sqlstate: str | None = None):
    """The first `times` queries containing `pattern` fail with `sqlstate`, or (None) lose
    their connection. Yields the list of failures made."""
    made = []

    def wrapper(execute, sql, params, many, context):
        if pattern in sql and len(made) < times:
            made.append(sql)
            if sqlstate is None:
                return execute(
                    "SELECT pg_terminate_backend(pg_backend_pid())", None, False, context
                )
            raise_it = f"DO $$ BEGIN RAISE EXCEPTION 'forced' USING ERRCODE = '{sqlstate}'; END $$"
            return execute(raise_it, None, False, context)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        yield made


@pytest.fixture
def patient(clinic_a):
    patient = factories.patient(clinic_a)
    factories.surgery(patient)
    return patient


def exam_body(patient) -> dict:
    return {
        "patient": patient.pk,
        "modality": "XR",
        "performed_at": "2026-03-01T09:30:00+01:00",
        "accession_number": "ACC-T1",
        "findings": [{"code": "vacuum_disc", "value": False, "level": "L4-L5"}],
    }


def post_exam(persona, patient, **headers):
    return persona.api.post("/api/v1/exams/", exam_body(patient), format="json", headers=headers)


@pytest.mark.parametrize("sqlstate", [DEADLOCK, SERIALIZATION])
def test_one_transient_error_is_retried_and_the_exam_saved_once(
    integration_a, patient, sqlstate, caplog
):
    caplog.set_level(logging.WARNING, logger="followup.transient")
    with failing(FINDINGS_INSERT, 1, sqlstate) as made:
        response = post_exam(integration_a, patient, **{HEADER: "key-1"})

    assert len(made) == 1
    assert response.status_code == 201, response.content
    exam = ImagingExam.objects.get()
    assert list(Finding.objects.filter(exam=exam).values_list("code", flat=True)) == ["vacuum_disc"]
    # The answer is kept for the key, and a retry by the client is a replay.
    replay = post_exam(integration_a, patient, **{HEADER: "key-1"})
    assert replay.status_code == 201 and replay["Idempotent-Replayed"] == "true"
    assert replay.json()["id"] == exam.pk
    assert ImagingExam.objects.count() == 1
    name = "DeadlockDetected" if sqlstate == DEADLOCK else "SerializationFailure"
    assert [r.getMessage() for r in caplog.records] == [
        f"transient database error ({name}, SQLSTATE {sqlstate}) in POST /api/v1/exams/, "
        "attempt 1: running it again"
    ]


@pytest.mark.parametrize("sqlstate", [DEADLOCK, SERIALIZATION])
def test_two_transient_errors_answer_503_json_and_save_nothing(
    integration_a, patient, sqlstate, caplog
):
    caplog.set_level(logging.WARNING, logger="followup.transient")
    with failing(FINDINGS_INSERT, 2, sqlstate) as made:
        response = post_exam(integration_a, patient, **{HEADER: "key-2"})

    assert len(made) == 2
    assert response.status_code == 503
    assert response["Content-Type"] == "application/json"
    assert response["Retry-After"] == "1"
    assert "nothing was saved" in response.json()["detail"]
    assert not ImagingExam.objects.exists() and not Finding.objects.exists()
    assert not IdempotencyKey.objects.exists()  # the client's retry with the key runs anew
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "answered 503 (BUSY)" in logged
    assert patient.mrn not in logged and "ACC-T1" not in logged

    retried = post_exam(integration_a, patient, **{HEADER: "key-2"})
    assert retried.status_code == 201 and "Idempotent-Replayed" not in retried


def test_a_fhir_request_answers_503_as_an_operation_outcome(integration_a, patient):
    with failing('FROM "patients_patient"', 2, DEADLOCK):
        response = integration_a.api.get(f"/fhir/r4/Patient/{patient.pk}")

    assert response.status_code == 503
    assert response["Content-Type"].startswith("application/fhir+json")
    assert response["Retry-After"] == "1"
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["code"] == "transient"


def test_the_admin_answers_a_plain_503(staff_a, patient):
    with failing('FROM "patients_patient"', 2, DEADLOCK):
        response = staff_a.api.get("/admin/patients/patient/")

    assert response.status_code == 503
    assert response["Content-Type"].startswith("text/plain")
    assert response["Retry-After"] == "1"


def test_other_database_errors_are_not_retried(integration_a, patient):
    with failing(FINDINGS_INSERT, 2, "22012"), pytest.raises(Exception, match="forced"):  # 1/0
        post_exam(integration_a, patient)


@pytest.mark.django_db(transaction=True)
class TestLostConnection:
    """A restart ends the connection: the next query reconnects."""

    def test_a_connection_lost_once_is_retried(self, integration_a, patient):
        with failing(FINDINGS_INSERT, 1) as made:
            response = post_exam(integration_a, patient)

        assert len(made) == 1
        assert response.status_code == 201, response.content
        assert ImagingExam.objects.count() == 1 and Finding.objects.count() == 1

    def test_a_connection_lost_twice_answers_503(self, integration_a, patient):
        with failing(FINDINGS_INSERT, 2):
            response = post_exam(integration_a, patient)

        assert response.status_code == 503
        assert response["Retry-After"] == "5"
        assert re.search("unavailable", response.json()["detail"])
        assert not ImagingExam.objects.exists()
