"""GET /api/v1/patients/{id}/timeline/: everything about the patient, in time order."""

import time
from datetime import datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from followup.models import Alert, Checkpoint, CheckpointDefinition, Protocol
from followup.pipeline import refresh, sweep
from followup.rules.default_protocols import load_default_protocols
from imaging.models import Finding, ImagingExam
from patients.models import Assessment, ClinicalEvent, Surgery
from tests import factories
from tests.followup.conftest import local

DAY0 = local("Europe/Paris", 2026, 1, 5, 9, 0)
NOW = DAY0 + timedelta(days=60)
TYPES = {"surgery", "checkpoint", "milestone", "workup", "prom", "exam", "event", "assessment",
         "alert"}  # fmt: skip


@pytest.fixture
def protocols(db):
    load_default_protocols(Protocol, CheckpointDefinition)


def story(clinic, variant: str = ""):
    """A fusion with its plan, a film with findings, a cauda equina left overdue, a score."""
    patient = factories.patient(clinic, transitional_variant=variant)
    surgery = factories.surgery(patient, DAY0, procedure="tlif")
    refresh.refresh(surgery.pk, DAY0)
    factories.exam(
        patient, surgery, performed_at=DAY0 + timedelta(days=7),
        findings=[{"code": "bridging", "value": "none", "level": "L4-L5"},
                  {"code": "screw_lucency_mm", "value": 1.0, "level": "L5", "side": "left"}],
    )  # fmt: skip
    onset = DAY0 + timedelta(days=15)
    ClinicalEvent.objects.create(
        patient=patient, surgery=surgery, code="cauda_equina", occurred_at=onset
    )
    Assessment.objects.create(
        patient=patient, surgery=surgery, assessed_at=DAY0 + timedelta(days=30), nrs_back=2
    )
    refresh.refresh(surgery.pk, onset)
    with time_machine.travel(onset + timedelta(hours=7), tick=False):
        sweep.run(onset + timedelta(hours=7))
    return patient


def timeline(persona, patient) -> dict:
    with time_machine.travel(NOW, tick=False):
        response = persona.api.get(f"/api/v1/patients/{patient.pk}/timeline/")
    assert response.status_code == 200, response.content
    return response.json()


def everything_of(patient) -> set[tuple[str, int]]:
    ids = {
        name: model.objects.filter(patient=patient).values_list("pk", flat=True)
        for name, model in (("surgery", Surgery), ("exam", ImagingExam), ("event", ClinicalEvent),
                            ("assessment", Assessment), ("alert", Alert))
    }  # fmt: skip
    rows = {(name, pk) for name, pks in ids.items() for pk in pks}
    for kind, pk in Checkpoint.objects.filter(patient=patient).values_list("kind", "pk"):
        rows.add(("checkpoint" if kind == "exam" else kind, pk))
    return rows


@pytest.fixture
def patient_a(protocols, clinic_a):
    return story(clinic_a, variant="Lumbarised S1: six lumbar vertebrae, counted from C2")


def test_every_record_of_the_patient_is_there_once(integration_a, patient_a, clinic_a):
    story(clinic_a)  # another patient of the same clinic

    entries = timeline(integration_a, patient_a)["entries"]

    listed = [(e["type"], e["id"]) for e in entries]
    assert len(listed) == len(set(listed))
    assert set(listed) == everything_of(patient_a)
    assert {e["type"] for e in entries} == TYPES


def test_entries_are_in_time_order(integration_a, patient_a):
    entries = timeline(integration_a, patient_a)["entries"]
    times = [datetime.fromisoformat(e["at"]) for e in entries]
    assert times == sorted(times)
    # The baseline PROM opens 90 days before; day 0's windows open at local midnight,
    # before the operation itself.
    assert [e["type"] for e in entries[:3]] == ["prom", "checkpoint", "surgery"]


def test_each_entry_is_typed_and_its_url_answers(integration_a, patient_a):
    entries = timeline(integration_a, patient_a)["entries"]
    for entry in entries:
        assert entry["url"].endswith(f"/{entry['id']}/")
        response = integration_a.api.get(entry["url"])
        assert response.status_code == 200, (entry, response.content)
        assert response.json()["id"] == entry["id"]
        assert response.json()["patient"] == patient_a.pk


def test_what_each_entry_says(integration_a, patient_a):
    entries = timeline(integration_a, patient_a)["entries"]
    by_type = {}
    for entry in entries:
        by_type.setdefault(entry["type"], []).append(entry)

    (exam,) = by_type["exam"]
    assert sorted(exam["data"]["findings"], key=lambda f: f["code"]) == [
        {"code": "bridging", "value": "none", "level": "L4-L5", "side": ""},
        {"code": "screw_lucency_mm", "value": 1.0, "level": "L5", "side": "left"},
    ]
    (workup,) = by_type["workup"]
    assert workup["data"]["code"] == "cauda_equina"
    assert workup["data"]["event"] == by_type["event"][0]["id"]
    assert {c["data"]["code"] for c in by_type["milestone"]} == {
        "gadolinium_cutoff", "early_changes_end",
    }  # fmt: skip
    baseline = next(c for c in by_type["checkpoint"] if c["data"]["code"] == "baseline_film")
    assert (baseline["data"]["status"], baseline["data"]["satisfied_by"]) == (
        "satisfied", exam["id"],
    )  # fmt: skip
    (alert,) = by_type["alert"]
    assert (alert["data"]["code"], alert["data"]["severity"]) == ("workup_overdue", "urgent")
    assert by_type["assessment"][0]["data"]["nrs_back"] == 2


def test_the_transitional_variant_is_on_top(integration_a, patient_a):
    body = timeline(integration_a, patient_a)
    keys = list(body)
    assert keys.index("transitional_variant") < keys.index("entries")
    assert keys.index("lumbar_vertebrae") < keys.index("entries")
    assert body["transitional_variant"] == patient_a.transitional_variant
    assert body["lumbar_vertebrae"] == patient_a.lumbar_vertebrae == 5
    assert body["patient"] == patient_a.pk


@pytest.mark.parametrize("other", ["staff_b", "integration_b"])
def test_another_clinic_gets_404(request, other, patient_a):
    persona = request.getfixturevalue(other)
    assert persona.api.get(f"/api/v1/patients/{patient_a.pk}/timeline/").status_code == 404


def test_anonymous_gets_401(anonymous, patient_a):
    assert anonymous.api.get(f"/api/v1/patients/{patient_a.pk}/timeline/").status_code == 401


def test_a_viewer_can_read_it(viewer_a, patient_a):
    assert timeline(viewer_a, patient_a)["entries"]


# --- Cost ---------------------------------------------------------------------------------


def big_story(clinic, surgeries: int = 10, exams: int = 300):
    """Built with bulk_create (no signals): clinic_id is set explicitly everywhere."""
    patient = factories.patient(clinic)
    operations = Surgery.objects.bulk_create(
        Surgery(patient=patient, clinic_id=clinic.pk, procedure="tlif", levels=["L4-L5"],
                performed_at=DAY0 - timedelta(days=400 - 30 * n))
        for n in range(surgeries)
    )  # fmt: skip
    per_surgery = exams // surgeries
    films = ImagingExam.objects.bulk_create(
        ImagingExam(patient=patient, clinic_id=clinic.pk, surgery=surgery,
                    modality=("XR", "CT", "MR")[n % 3], accession_number=f"BIG{surgery.pk}-{n}",
                    performed_at=surgery.performed_at + timedelta(days=1 + n))
        for surgery in operations
        for n in range(per_surgery)
    )  # fmt: skip
    Finding.objects.bulk_create(
        Finding(exam=film, code="bridging", value="partial", level="L4-L5") for film in films
    )
    ClinicalEvent.objects.bulk_create(
        ClinicalEvent(patient=patient, clinic_id=clinic.pk, surgery=surgery, code="blood_loss",
                      occurred_at=surgery.performed_at + timedelta(days=2))
        for surgery in operations
    )  # fmt: skip
    Assessment.objects.bulk_create(
        Assessment(patient=patient, clinic_id=clinic.pk, surgery=surgery, nrs_back=n % 10,
                   assessed_at=surgery.performed_at + timedelta(days=3 * n + 5))
        for surgery in operations
        for n in range(5)
    )  # fmt: skip
    for surgery in operations:
        refresh.refresh(surgery.pk, NOW)
    sweep.run(NOW)
    return patient


def test_the_query_count_does_not_grow_with_the_story(integration_a, protocols, clinic_a):
    def measured(patient) -> tuple[int, int, float]:
        with time_machine.travel(NOW, tick=False), CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            response = integration_a.api.get(f"/api/v1/patients/{patient.pk}/timeline/")
            elapsed = time.perf_counter() - started
        assert response.status_code == 200
        return len(captured), len(response.json()["entries"]), elapsed

    small, small_entries, _ = measured(story(clinic_a))
    # 1 surgery, 5 checkpoints, 5 PROM time points, work-up, exam, event, score, alert
    assert small_entries == 16
    big = big_story(clinic_a)
    assert ImagingExam.objects.filter(patient=big).count() == 300
    many, big_entries, elapsed = measured(big)

    assert many == small
    assert big_entries > 300 + 10 * 5 + 10 * 5  # exams, checkpoints, assessments at least
    print(f"\nbig timeline: {big_entries} entries, {many} queries, {elapsed * 1000:.0f} ms")
