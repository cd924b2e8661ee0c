"""/api/v1/clinical-events/ and /api/v1/assessments/: personas, validation, query counts."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from followup.models import Checkpoint, CheckpointDefinition, Protocol
from followup.pipeline.schedule import plan_workups
from followup.rules.default_protocols import load_default_protocols
from patients.models import Assessment, ClinicalEvent
from tests import factories
from tests.followup.conftest import local

DAY0 = local("Europe/Paris", 2026, 1, 5, 9, 0)
NOW = local("Europe/Paris", 2026, 3, 1, 12, 0)
EVENTS, ASSESSMENTS = "/api/v1/clinical-events/", "/api/v1/assessments/"
WRITERS = ["staff_a", "integration_a"]


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture(autouse=True)
def protocols(db):
    load_default_protocols(Protocol, CheckpointDefinition)


@pytest.fixture(params=WRITERS)
def writer(request):
    return request.getfixturevalue(request.param)


@pytest.fixture
def surgery_a(clinic_a):
    return factories.surgery(factories.patient(clinic_a), DAY0, procedure="tlif")


@pytest.fixture
def event_a(surgery_a):
    return ClinicalEvent.objects.create(
        patient=surgery_a.patient, surgery=surgery_a, code="infection_signs",
        occurred_at=DAY0 + timedelta(days=10),
    )  # fmt: skip


@pytest.fixture
def assessment_a(surgery_a):
    return Assessment.objects.create(
        patient=surgery_a.patient, surgery=surgery_a, assessed_at=DAY0 + timedelta(days=10),
        nrs_back=4,
    )  # fmt: skip


def event_body(patient, **fields) -> dict:
    return {"patient": patient.pk, "code": "cauda_equina",
            "occurred_at": "2026-02-20T08:00:00+01:00", "notes": ""} | fields  # fmt: skip


def assessment_body(patient, **fields) -> dict:
    return {"patient": patient.pk, "assessed_at": "2026-02-20T08:00:00+01:00",
            "nrs_back": 3, "nrs_leg": 2, "odi": 20} | fields  # fmt: skip


def row_counts() -> dict[str, int]:
    return {m.__name__: m.objects.count() for m in (ClinicalEvent, Assessment, Checkpoint)}


def refused(persona, url: str, body: dict, field: str):
    """400 naming `field`, and nothing written."""
    before = row_counts()
    response = persona.api.post(url, body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json(), response.json()
    assert row_counts() == before
    return response.json()[field]


# --- Personas ------------------------------------------------------------------------------


@pytest.mark.parametrize("url", [EVENTS, ASSESSMENTS])
def test_anonymous_gets_401(anonymous, surgery_a, url):
    assert anonymous.api.get(url).status_code == 401
    body = event_body(surgery_a.patient) if url == EVENTS else assessment_body(surgery_a.patient)
    assert anonymous.api.post(url, body, format="json").status_code == 401
    assert row_counts()["ClinicalEvent"] == row_counts()["Assessment"] == 0


@pytest.mark.parametrize("other", ["staff_b", "integration_b"])
def test_another_clinic_gets_404_and_empty_lists(request, other, event_a, assessment_a):
    persona = request.getfixturevalue(other)
    patient = event_a.patient_id
    for url, row in ((EVENTS, event_a), (ASSESSMENTS, assessment_a)):
        assert persona.api.get(f"{url}{row.pk}/").status_code == 404
        patch = {"notes": "mine"} if url == EVENTS else {"nrs_back": 9}
        assert persona.api.patch(f"{url}{row.pk}/", patch, format="json").status_code == 404
        response = persona.api.get(f"{url}?patient={patient}")
        assert response.status_code == 200
        assert response.json()["results"] == []
        assert persona.api.get(url).json()["results"] == []
    event_a.refresh_from_db()
    assessment_a.refresh_from_db()
    assert (event_a.notes, assessment_a.nrs_back) == ("", 4)


def test_the_own_clinic_sees_them(integration_a, event_a, assessment_a):
    assert integration_a.api.get(f"{EVENTS}{event_a.pk}/").status_code == 200
    assert integration_a.api.get(f"{ASSESSMENTS}{assessment_a.pk}/").status_code == 200
    ids = [r["id"] for r in integration_a.api.get(f"{EVENTS}?patient={event_a.patient_id}")
           .json()["results"]]  # fmt: skip
    assert ids == [event_a.pk]


def test_a_viewer_cannot_post_or_patch(viewer_a, surgery_a, event_a):
    patient = surgery_a.patient
    assert viewer_a.api.get(EVENTS).status_code == 200
    assert viewer_a.api.post(EVENTS, event_body(patient), format="json").status_code == 403
    response = viewer_a.api.post(ASSESSMENTS, assessment_body(patient), format="json")
    assert response.status_code == 403
    response = viewer_a.api.patch(f"{EVENTS}{event_a.pk}/", {"notes": "x"}, format="json")
    assert response.status_code == 403
    assert row_counts()["ClinicalEvent"] == 1


# --- Clinical events -----------------------------------------------------------------------


def test_posting_an_event_answers_with_its_workup(writer, surgery_a):
    response = writer.api.post(EVENTS, event_body(surgery_a.patient), format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    event = ClinicalEvent.objects.get(pk=body["id"])
    assert (event.surgery, event.source, event.clinic_id) == (surgery_a, "recorded",
                                                              surgery_a.clinic_id)  # fmt: skip
    assert body["surgery"] == surgery_a.pk  # inferred: the latest surgery before the event
    workup = body["workup"]
    assert workup["code"] == "cauda_equina"
    assert set(workup["modalities"]) == {"MR", "CT"}
    assert datetime.fromisoformat(workup["due_at"]) == datetime(2026, 2, 20, 13, 0, tzinfo=UTC)
    assert "MR" in workup["recommendation"]
    assert workup["satisfied_by"] is None
    assert Checkpoint.objects.get(event=event).pk == workup["id"]


def test_the_surgery_inferred_is_the_latest_before_the_event(integration_a, surgery_a):
    later = factories.surgery(surgery_a.patient, DAY0 + timedelta(days=40), procedure="tlif")
    factories.surgery(surgery_a.patient, NOW - timedelta(days=1), procedure="tlif")  # after

    response = integration_a.api.post(EVENTS, event_body(surgery_a.patient), format="json")

    assert response.status_code == 201, response.content
    assert response.json()["surgery"] == later.pk


def test_an_unknown_code_is_refused(integration_a, surgery_a):
    refused(integration_a, EVENTS, event_body(surgery_a.patient, code="headache"), "code")


def test_a_future_time_is_refused(integration_a, surgery_a):
    future = (NOW + timedelta(minutes=5)).isoformat()
    refused(integration_a, EVENTS, event_body(surgery_a.patient, occurred_at=future),
            "occurred_at")  # fmt: skip


def test_another_patients_surgery_is_refused(integration_a, surgery_a, clinic_a):
    stranger = factories.surgery(factories.patient(clinic_a), DAY0, procedure="tlif")
    body = event_body(surgery_a.patient, surgery=stranger.pk)
    assert "not this patient's" in str(refused(integration_a, EVENTS, body, "surgery"))


def test_another_clinics_surgery_does_not_exist(integration_a, surgery_a, clinic_b):
    foreign = factories.surgery(factories.patient(clinic_b), DAY0, procedure="tlif")
    refused(integration_a, EVENTS, event_body(surgery_a.patient, surgery=foreign.pk), "surgery")


def test_a_surgery_after_the_event_is_refused(integration_a, surgery_a):
    body = event_body(surgery_a.patient, occurred_at="2025-12-31T08:00:00+01:00",
                      surgery=surgery_a.pk)  # fmt: skip
    refused(integration_a, EVENTS, body, "surgery")


def test_a_patient_with_no_surgery_before_the_time_is_refused(integration_a, clinic_a, surgery_a):
    never_operated = factories.patient(clinic_a)
    refused(integration_a, EVENTS, event_body(never_operated), "surgery")
    before_surgery = event_body(surgery_a.patient, occurred_at="2026-01-04T08:00:00+01:00")
    refused(integration_a, EVENTS, before_surgery, "surgery")


def test_another_clinics_patient_is_refused(integration_a, clinic_b):
    foreign = factories.surgery(factories.patient(clinic_b), DAY0, procedure="tlif")
    refused(integration_a, EVENTS, event_body(foreign.patient), "patient")
    refused(integration_a, ASSESSMENTS, assessment_body(foreign.patient), "patient")


def test_a_date_alone_is_that_day_in_the_clinics_zone(integration_a, integration_b, surgery_a):
    surgery_b = factories.surgery(factories.patient(integration_b.clinic), DAY0)
    paris = integration_a.api.post(EVENTS, event_body(surgery_a.patient, occurred_at="2026-02-20"),
                                   format="json")  # fmt: skip
    los_angeles = integration_b.api.post(
        ASSESSMENTS, assessment_body(surgery_b.patient, assessed_at="2026-02-20"), format="json"
    )

    assert paris.status_code == los_angeles.status_code == 201
    assert paris.json()["occurred_at"] == "2026-02-19T23:00:00Z"
    assert los_angeles.json()["assessed_at"] == "2026-02-20T08:00:00Z"


def test_patching_the_time_moves_the_workup(integration_a, surgery_a):
    event = integration_a.api.post(EVENTS, event_body(surgery_a.patient), format="json").json()

    response = integration_a.api.patch(
        f"{EVENTS}{event['id']}/", {"occurred_at": "2026-02-21T08:00:00+01:00"}, format="json"
    )

    assert response.status_code == 200, response.content
    due = datetime.fromisoformat(response.json()["workup"]["due_at"])
    assert due == datetime(2026, 2, 21, 13, 0, tzinfo=UTC)


def test_patching_an_event_before_its_surgery_is_refused(integration_a, event_a):
    response = integration_a.api.patch(
        f"{EVENTS}{event_a.pk}/", {"occurred_at": "2026-01-01T08:00:00+01:00"}, format="json"
    )
    assert response.status_code == 400
    assert "occurred_at" in response.json()


def test_an_event_cannot_move_to_another_patient(integration_a, event_a, clinic_a):
    other = factories.surgery(factories.patient(clinic_a), DAY0)
    response = integration_a.api.patch(
        f"{EVENTS}{event_a.pk}/", {"patient": other.patient_id}, format="json"
    )
    assert response.status_code == 400
    assert "patient" in response.json()


def test_source_and_detected_links_are_read_only(integration_a, surgery_a, assessment_a):
    body = event_body(surgery_a.patient, source="detected", recurrence_assessment=assessment_a.pk)
    response = integration_a.api.post(EVENTS, body, format="json")
    assert response.status_code == 201, response.content
    event = ClinicalEvent.objects.get(pk=response.json()["id"])
    assert (event.source, event.recurrence_assessment) == ("recorded", None)


def test_filter_events_by_code(integration_a, event_a, surgery_a):
    ClinicalEvent.objects.create(
        patient=surgery_a.patient, surgery=surgery_a, code="blood_loss", occurred_at=DAY0
    )
    rows = integration_a.api.get(f"{EVENTS}?code=infection_signs").json()["results"]
    assert [r["id"] for r in rows] == [event_a.pk]


# --- Assessments ---------------------------------------------------------------------------


def test_posting_an_assessment(writer, surgery_a):
    response = writer.api.post(ASSESSMENTS, assessment_body(surgery_a.patient), format="json")

    assert response.status_code == 201, response.content
    assessment = Assessment.objects.get(pk=response.json()["id"])
    assert (assessment.surgery, assessment.nrs_back, assessment.nrs_leg, assessment.odi) == (
        surgery_a, 3, 2, 20,
    )  # fmt: skip
    assert assessment.assessed_at == datetime(2026, 2, 20, 7, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("field", "value"),
    [("nrs_back", 0), ("nrs_back", 10), ("nrs_leg", 0), ("nrs_leg", 10), ("odi", 0), ("odi", 100)],
)
def test_scores_at_the_bounds_are_accepted(integration_a, surgery_a, field, value):
    body = {"patient": surgery_a.patient.pk, "assessed_at": "2026-02-20", field: value}
    response = integration_a.api.post(ASSESSMENTS, body, format="json")
    assert response.status_code == 201, response.content
    assert getattr(Assessment.objects.get(pk=response.json()["id"]), field) == value


@pytest.mark.parametrize(
    ("field", "value"),
    [("nrs_back", 11), ("nrs_back", -1), ("nrs_leg", 11), ("nrs_leg", -1), ("odi", 101),
     ("odi", -1), ("nrs_back", "a lot")],
)  # fmt: skip
def test_scores_out_of_bounds_are_refused(integration_a, surgery_a, field, value):
    refused(integration_a, ASSESSMENTS, assessment_body(surgery_a.patient, **{field: value}), field)


def test_an_assessment_needs_a_score(integration_a, surgery_a):
    body = {"patient": surgery_a.patient.pk, "assessed_at": "2026-02-20"}
    assert "at least one score" in str(refused(integration_a, ASSESSMENTS, body, "nrs_back"))
    body |= {"nrs_back": None, "nrs_leg": None, "odi": None}
    refused(integration_a, ASSESSMENTS, body, "nrs_back")


def test_patching_away_the_last_score_is_refused(integration_a, assessment_a):
    response = integration_a.api.patch(
        f"{ASSESSMENTS}{assessment_a.pk}/", {"nrs_back": None}, format="json"
    )
    assert response.status_code == 400
    assert "nrs_back" in response.json()


def test_a_future_assessment_is_refused(integration_a, surgery_a):
    body = assessment_body(surgery_a.patient, assessed_at="2026-03-02")
    refused(integration_a, ASSESSMENTS, body, "assessed_at")


def test_an_assessment_before_any_surgery_is_kept_without_one(integration_a, clinic_a):
    patient = factories.patient(clinic_a)
    response = integration_a.api.post(ASSESSMENTS, assessment_body(patient), format="json")
    assert response.status_code == 201, response.content
    assert response.json()["surgery"] is None


def test_an_assessment_with_another_patients_surgery_is_refused(integration_a, surgery_a, clinic_a):
    stranger = factories.surgery(factories.patient(clinic_a), DAY0)
    body = assessment_body(surgery_a.patient, surgery=stranger.pk)
    refused(integration_a, ASSESSMENTS, body, "surgery")


# --- Query counts --------------------------------------------------------------------------


def add_events(clinic, n: int) -> None:
    for _ in range(n):
        surgery = factories.surgery(factories.patient(clinic), DAY0)
        event = ClinicalEvent.objects.create(
            patient=surgery.patient, surgery=surgery, code="new_radicular_pain",
            occurred_at=DAY0 + timedelta(days=3),
        )  # fmt: skip
        plan_workups(surgery, NOW)
        assert event.workups.count() == 1


def add_assessments(clinic, n: int) -> None:
    for _ in range(n):
        surgery = factories.surgery(factories.patient(clinic), DAY0)
        Assessment.objects.create(
            patient=surgery.patient, surgery=surgery, assessed_at=DAY0 + timedelta(days=3), odi=30
        )


@pytest.mark.parametrize(("url", "add"), [(EVENTS, add_events), (ASSESSMENTS, add_assessments)])
@pytest.mark.parametrize("persona_name", WRITERS)
def test_list_query_count_does_not_grow_with_rows(request, clinic_a, persona_name, url, add):
    persona = request.getfixturevalue(persona_name)

    def queries(expected: int) -> int:
        with CaptureQueriesContext(connection) as captured:
            response = persona.api.get(url)
        assert response.status_code == 200
        assert len(response.json()["results"]) == expected
        if url == EVENTS:
            assert all(row["workup"] for row in response.json()["results"])
        return len(captured)

    add(clinic_a, 1)
    one = queries(1)
    add(clinic_a, 49)
    assert queries(50) == one
