"""Symptom work-ups (CLINICAL_RULES §5): a clinical event calls for imaging within hours or days.

The expected table below is written from CLINICAL_RULES §5, not read from the
defaults, so that a wrong default makes these tests fail.
"""

from datetime import timedelta

import pytest
import time_machine

from followup.models import Alert, AlertStatus, Checkpoint, CheckpointDefinition, Protocol
from followup.pipeline import refresh, sweep
from patients.models import ClinicalEvent
from tests import factories

from .conftest import local

DAY0 = local("Europe/Paris", 2026, 1, 5, 9, 0)
# Day 15, far from any DST change even 30 days later.
ONSET = local("Europe/Paris", 2026, 1, 20, 14, 30)

# code -> (modalities, due after the event, severity when overdue, what §5 recommends)
SECTION_5 = {
    "cauda_equina": ({"MR", "CT"}, timedelta(hours=6), "urgent",
                     ["lumbar MR", "CT if MR is impossible"]),
    "medullary_syndrome": ({"MR"}, timedelta(hours=6), "urgent", ["full-spine MR"]),
    "blood_loss": ({"CT"}, timedelta(hours=6), "urgent",
                   ["CT without and with contrast", "arterial and portal phases"]),
    "new_radicular_pain": ({"CT", "MR"}, timedelta(hours=48), "high",
                           ["CT first", "MR with and without contrast",
                            "CT is non-contributory"]),
    "infection_signs": ({"MR"}, timedelta(hours=48), "high", ["MR without and with contrast"]),
    "positional_headache": ({"MR"}, timedelta(hours=72), "high",
                            ["MR with high-resolution T2", "pseudomeningocele"]),
    "pain_recurrence": ({"XR", "CT"}, timedelta(days=30), "high",
                        ["radiographs", "flexion/extension", "CT"]),
    "recurrent_radicular_pain": ({"MR"}, timedelta(days=30), "high",
                                 ["MR with 3D T2", "contrast only if the herniation looks like "
                                  "the pre-operative one"]),
    "no_improvement": ({"MR"}, timedelta(days=30), "high",
                       ["MR", "upright flexion/extension radiographs",
                        "if the decompression looks right"]),
}  # fmt: skip
PROCEDURE = {"recurrent_radicular_pain": "discectomy", "no_improvement": "decompression"}


def operated(clinic, code: str = "cauda_equina"):
    surgery = factories.surgery(
        factories.patient(clinic), DAY0, procedure=PROCEDURE.get(code, "tlif")
    )
    refresh.refresh(surgery.pk, DAY0)
    return surgery


def record(surgery, code: str, at=ONSET) -> ClinicalEvent:
    event = ClinicalEvent.objects.create(
        patient=surgery.patient, surgery=surgery, code=code, occurred_at=at
    )
    refresh.refresh(surgery.pk, at)
    return event


def workup_of(event: ClinicalEvent) -> Checkpoint:
    return Checkpoint.objects.get(event=event)


def workup_alerts(surgery):
    return Alert.objects.filter(surgery=surgery, code="workup_overdue")


# --- Each event code schedules its work-up -------------------------------------------------


@pytest.mark.parametrize("code", list(SECTION_5))
def test_posting_an_event_schedules_its_workup(protocols, integration_a, code):
    modalities, due, _, recommendation = SECTION_5[code]
    surgery = operated(integration_a.clinic, code)

    with time_machine.travel(ONSET + timedelta(minutes=5), tick=False):
        response = integration_a.api.post(
            "/api/v1/clinical-events/",
            {"patient": surgery.patient_id, "code": code,
             "occurred_at": "2026-01-20T14:30:00+01:00"},
            format="json",
        )  # fmt: skip

    assert response.status_code == 201, response.content
    workup = Checkpoint.objects.get(event_id=response.json()["id"])
    assert (workup.kind, workup.code, workup.surgery) == ("workup", code, surgery)
    assert set(workup.modalities) == modalities
    assert workup.opens_at == ONSET
    assert workup.due_at == ONSET + due
    for words in recommendation:
        assert words.lower() in workup.recommendation.lower()
    shown = response.json()["workup"]
    assert shown["id"] == workup.pk
    assert set(shown["modalities"]) == modalities
    assert shown["recommendation"] == workup.recommendation


@pytest.mark.parametrize("code", list(SECTION_5))
def test_an_overdue_workup_raises_one_alert_of_its_severity(protocols, paris, code):
    _, due, severity, _ = SECTION_5[code]
    surgery = operated(paris, code)
    event = record(surgery, code)

    sweep.run(ONSET + due - timedelta(minutes=1))
    assert not workup_alerts(surgery).exists()  # (a fusion's baseline film may be overdue)
    sweep.run(ONSET + due)

    alert = workup_alerts(surgery).get()
    assert (alert.severity, alert.checkpoint, alert.status) == (severity, workup_of(event), "open")


# --- Cauda equina: an imaging emergency ---------------------------------------------------


def test_cauda_equina_without_mr_after_six_hours_raises_one_urgent_alert(protocols, paris):
    surgery = operated(paris)
    event = record(surgery, "cauda_equina")

    assert sweep.run(ONSET + timedelta(hours=5, minutes=59)).alerts == 0
    sweep.run(ONSET + timedelta(hours=6))
    sweep.run(ONSET + timedelta(hours=7))

    alert = workup_alerts(surgery).get()
    assert alert.severity == "urgent"
    assert alert.checkpoint == workup_of(event)
    assert "MR/CT" in alert.message
    assert "Lumbar MR" in alert.message
    assert Alert.objects.count() == 1


@pytest.mark.parametrize("modality", ["MR", "CT"])
def test_an_mr_or_ct_in_time_answers_cauda_equina(protocols, paris, modality):
    surgery = operated(paris)
    event = record(surgery, "cauda_equina")
    exam = factories.exam(
        surgery.patient, surgery, modality=modality, performed_at=ONSET + timedelta(hours=3)
    )
    refresh.refresh(surgery.pk, ONSET + timedelta(hours=3))

    sweep.run(ONSET + timedelta(hours=7))

    workup = workup_of(event)
    assert (workup.satisfied_by, workup.late) == (exam, False)
    assert not workup_alerts(surgery).exists()


def test_an_mr_done_late_satisfies_it_late_and_resolves_the_alert(protocols, paris):
    surgery = operated(paris)
    event = record(surgery, "cauda_equina")
    sweep.run(ONSET + timedelta(hours=7))
    assert workup_alerts(surgery).get().status == AlertStatus.OPEN

    late = factories.exam(
        surgery.patient, surgery, modality="MR", performed_at=ONSET + timedelta(hours=9)
    )
    refresh.refresh(surgery.pk, ONSET + timedelta(hours=9))
    sweep.run(ONSET + timedelta(hours=10))

    workup = workup_of(event)
    assert (workup.satisfied_by, workup.late) == (late, True)
    alert = workup_alerts(surgery).get()
    assert (alert.status, alert.auto_resolved) == (AlertStatus.RESOLVED, True)


def test_an_mr_done_before_the_event_does_not_answer_it(protocols, paris):
    surgery = operated(paris)
    factories.exam(surgery.patient, surgery, modality="MR", performed_at=ONSET - timedelta(hours=1))
    event = record(surgery, "cauda_equina")

    sweep.run(ONSET + timedelta(hours=6))

    assert workup_of(event).satisfied_by is None
    assert workup_alerts(surgery).count() == 1


def test_a_radiograph_does_not_answer_cauda_equina(protocols, paris):
    surgery = operated(paris)
    event = record(surgery, "cauda_equina")
    factories.exam(surgery.patient, surgery, modality="XR", performed_at=ONSET + timedelta(hours=1))
    refresh.refresh(surgery.pk, ONSET + timedelta(hours=1))

    sweep.run(ONSET + timedelta(hours=6))

    assert workup_of(event).satisfied_by is None
    assert workup_alerts(surgery).get().severity == "urgent"


def test_one_exam_answers_one_workup_only(protocols, paris):
    surgery = operated(paris)
    first = record(surgery, "cauda_equina")
    second = record(surgery, "blood_loss", ONSET + timedelta(minutes=30))
    ct = factories.exam(
        surgery.patient, surgery, modality="CT", performed_at=ONSET + timedelta(hours=1)
    )
    refresh.refresh(surgery.pk, ONSET + timedelta(hours=2))

    assert workup_of(first).satisfied_by == ct
    assert workup_of(second).satisfied_by is None


# --- Moving the event ---------------------------------------------------------------------


def test_moving_the_events_time_moves_its_open_workup(protocols, integration_a):
    surgery = operated(integration_a.clinic)
    event = record(surgery, "positional_headache")
    moved_to = ONSET + timedelta(days=2)

    with time_machine.travel(moved_to + timedelta(hours=1), tick=False):
        response = integration_a.api.patch(
            f"/api/v1/clinical-events/{event.pk}/",
            {"occurred_at": moved_to.isoformat()},
            format="json",
        )

    assert response.status_code == 200, response.content
    workup = workup_of(event)
    assert (workup.opens_at, workup.due_at) == (moved_to, moved_to + timedelta(hours=72))
    assert response.json()["workup"]["due_at"] == workup.due_at.isoformat().replace("+00:00", "Z")


def test_moving_an_overdue_workup_later_resolves_its_alert(protocols, paris):
    surgery = operated(paris)
    event = record(surgery, "cauda_equina")
    sweep.run(ONSET + timedelta(hours=7))
    assert workup_alerts(surgery).get().status == AlertStatus.OPEN

    event.occurred_at = ONSET + timedelta(hours=5)  # it was recorded with the wrong hour
    event.save()
    refresh.refresh(surgery.pk, ONSET + timedelta(hours=7))

    workup = workup_of(event)
    assert workup.due_at == ONSET + timedelta(hours=11)
    assert workup.overdue_since is None
    assert workup_alerts(surgery).get().status == AlertStatus.RESOLVED
    # And it is raised again when the new due time passes.
    sweep.run(ONSET + timedelta(hours=11))
    assert workup_alerts(surgery).filter(status=AlertStatus.OPEN).count() == 1


def test_a_satisfied_workup_follows_its_event_and_keeps_its_exam(protocols, paris):
    surgery = operated(paris)
    event = record(surgery, "cauda_equina")
    mr = factories.exam(surgery.patient, surgery, modality="MR", performed_at=ONSET + timedelta(1))
    refresh.refresh(surgery.pk, ONSET + timedelta(days=1))

    event.occurred_at = ONSET - timedelta(hours=2)
    event.save()
    refresh.refresh(surgery.pk, ONSET + timedelta(days=1))

    workup = workup_of(event)
    assert (workup.opens_at, workup.satisfied_by) == (ONSET - timedelta(hours=2), mr)


# --- A clinic edits its work-ups ----------------------------------------------------------


def new_workups_version(clinic, **due_hours) -> Protocol:
    default = Protocol.objects.current("workups", None)
    copy = Protocol.objects.create(family="workups", clinic=clinic, name=default.name)
    for definition in CheckpointDefinition.objects.filter(protocol=default):
        definition.pk, definition.protocol = None, copy
        definition.due_hours = due_hours.get(definition.code, definition.due_hours)
        definition.save()
    return copy


def test_edited_workups_apply_to_new_events_only(protocols, paris, clinic_b):
    surgery = operated(paris)
    before = record(surgery, "cauda_equina")
    new_workups_version(paris, cauda_equina=3)

    after = record(surgery, "cauda_equina", ONSET + timedelta(hours=1))
    refresh.refresh(surgery.pk, ONSET + timedelta(hours=2))  # re-planning keeps the old one
    elsewhere = operated(clinic_b)
    other_clinic = record(elsewhere, "cauda_equina")

    assert workup_of(before).due_at == ONSET + timedelta(hours=6)
    assert workup_of(after).due_at == ONSET + timedelta(hours=4)
    assert workup_of(other_clinic).due_at == ONSET + timedelta(hours=6)
    assert workup_of(after).definition.protocol.clinic == paris


def test_a_clinic_that_drops_a_workup_gets_none_for_that_symptom(protocols, paris):
    surgery = operated(paris)
    version = new_workups_version(paris)
    version.definitions.filter(code="no_improvement").delete()

    event = record(surgery, "no_improvement")

    assert not Checkpoint.objects.filter(event=event).exists()


# --- Correcting an event ------------------------------------------------------------------


def test_correcting_the_code_replaces_the_open_workup(protocols, integration_a):
    surgery = operated(integration_a.clinic)
    event = record(surgery, "cauda_equina")
    sweep.run(ONSET + timedelta(hours=7))
    old_alert = workup_alerts(surgery).get()

    with time_machine.travel(ONSET + timedelta(hours=7), tick=False):
        response = integration_a.api.patch(
            f"/api/v1/clinical-events/{event.pk}/", {"code": "infection_signs"}, format="json"
        )

    assert response.status_code == 200, response.content
    workup = workup_of(event)
    assert (workup.code, set(workup.modalities)) == ("infection_signs", {"MR"})
    assert workup.due_at == ONSET + timedelta(hours=48)
    assert response.json()["workup"]["code"] == "infection_signs"
    old_alert.refresh_from_db()
    assert old_alert.status == AlertStatus.RESOLVED  # its cause, the old work-up, is gone


def test_moving_the_event_to_another_surgery_moves_its_workup(protocols, integration_a):
    first = operated(integration_a.clinic)
    second = factories.surgery(first.patient, DAY0 + timedelta(days=3), procedure="tlif")
    refresh.refresh(second.pk, DAY0 + timedelta(days=3))
    event = record(second, "blood_loss")  # the latest surgery before the event

    with time_machine.travel(ONSET + timedelta(hours=1), tick=False):
        response = integration_a.api.patch(
            f"/api/v1/clinical-events/{event.pk}/", {"surgery": first.pk}, format="json"
        )

    assert response.status_code == 200, response.content
    assert workup_of(event).surgery == first
    assert not second.checkpoints.filter(kind="workup").exists()
    refresh.refresh(second.pk, ONSET + timedelta(hours=1))  # the other surgery's refresh
    assert workup_of(event).surgery == first
