"""CLINICAL_RULES §4: a cause is gone whenever the record behind it changes, and its alert
resolves itself with a note saying why; no alert stays open without a live cause, no live
cause is left without its alert, and one cause never has two open alerts. §6: a detected
recurrence lives only while the scores show it.

The API has no DELETE for exams or clinical events: those steps use the ORM (as the admin
does), and say so."""

import pytest

from imaging.models import ImagingExam
from patients.models import ClinicalEvent

from .story import DAY0, finding, on_day, one


def assert_closed_by_the_service(alert: dict) -> None:
    assert alert["status"] == "resolved"
    assert alert["auto_resolved"], alert
    assert alert["resolution_note"].strip(), "the note must say why the alert closed"


# --- Checkpoints that disappear -----------------------------------------------------------


def test_correcting_a_fusion_to_a_discectomy_resolves_its_checkpoints_overdue_alerts(story):
    surgery = story.surgery(DAY0)
    story.wait_until(on_day(50))
    overdue = one(story.alerts("checkpoint_overdue"), "overdue baseline alert")

    story.patch(f"/api/v1/surgeries/{surgery}/", {"procedure": "discectomy", "hardware": []})

    assert "baseline_film" not in story.checkpoints(surgery)
    assert story.alerts("checkpoint_overdue") == []
    closed = one(story.resolved("checkpoint_overdue"), "resolved overdue alert")
    assert closed["id"] == overdue["id"]
    assert_closed_by_the_service(closed)


def test_deleting_a_clinical_event_resolves_its_workup_alert(story):
    story.surgery(DAY0, procedure="discectomy", levels=["L5-S1"], hardware=[])
    event = story.event("cauda_equina", on_day(20, 14))
    story.wait_until(on_day(20, 21))
    assert one(story.alerts("workup_overdue"), "work-up alert")["severity"] == "urgent"

    # No DELETE for clinical events in the API: deleted through the ORM.
    ClinicalEvent.objects.get(pk=event["id"]).delete()
    story.changed_outside_the_api()

    assert story.workups() == []
    assert story.alerts("workup_overdue") == []
    assert_closed_by_the_service(one(story.resolved("workup_overdue"), "resolved work-up alert"))


# --- An exam moved to another surgery -----------------------------------------------------


@pytest.fixture
def two_surgeries(story) -> tuple[int, int]:
    """A discectomy, then a decompression at another level: no routine films to muddle."""
    first = story.surgery(DAY0, procedure="discectomy", levels=["L5-S1"], hardware=[])
    second = story.surgery(on_day(100, 9), procedure="decompression", levels=["L4-L5"],
                           hardware=[])  # fmt: skip
    return first, second


ABSCESS = [finding("fluid_collection", "abscess")]  # no level: judged against its surgery


def test_an_exam_moved_to_another_surgery_by_patch_moves_its_alert(story, two_surgeries):
    first, second = two_surgeries
    mr = story.exam(on_day(120), "MR", ABSCESS, surgery=first)
    assert one(story.alerts("abscess"), "abscess alert")["surgery"] == first

    story.patch(f"/api/v1/exams/{mr['id']}/", {"surgery": second})

    alert = one(story.alerts("abscess"), "open abscess alert")
    assert (alert["surgery"], alert["exam"], alert["severity"]) == (second, mr["id"], "urgent")
    old = one(story.resolved("abscess"), "resolved abscess alert")
    assert old["surgery"] == first
    assert_closed_by_the_service(old)


def test_an_exam_posted_again_without_surgery_moves_and_keeps_one_alert(story, two_surgeries):
    first, second = two_surgeries
    story.exam(on_day(120), "MR", ABSCESS, surgery=first, accession="MOVED-1")

    # The same accession number again, without a surgery: the latest one before it.
    again = story.exam(on_day(120), "MR", ABSCESS, accession="MOVED-1", expect=200)

    assert again["surgery"] == second
    assert one(story.alerts("abscess"), "open abscess alert")["surgery"] == second
    assert_closed_by_the_service(one(story.resolved("abscess"), "resolved abscess alert"))


# --- The exam that satisfied an overdue checkpoint is deleted -----------------------------


def test_deleting_the_exam_that_answered_a_cauda_equina_workup_makes_it_overdue_again(story):
    story.surgery(DAY0, procedure="discectomy", levels=["L5-S1"], hardware=[])
    story.event("cauda_equina", on_day(20, 14))
    mr = story.exam(on_day(20, 16), "MR")
    story.wait_until(on_day(20, 21))
    assert one(story.workups(), "work-up")["satisfied_by"] == mr["id"]
    assert story.alerts("workup_overdue") == []

    # No DELETE for exams in the API: deleted through the ORM.
    ImagingExam.objects.get(pk=mr["id"]).delete()
    story.changed_outside_the_api()

    workup = one(story.workups(), "work-up")
    assert (workup["satisfied_by"], workup["status"]) == (None, "overdue")
    alert = one(story.alerts("workup_overdue"), "open work-up alert")
    assert (alert["checkpoint"], alert["severity"]) == (workup["id"], "urgent")


def test_deleting_the_late_exam_of_an_alerted_workup_alerts_again(story):
    story.surgery(DAY0, procedure="discectomy", levels=["L5-S1"], hardware=[])
    story.event("cauda_equina", on_day(20, 14))
    story.wait_until(on_day(20, 21))
    first_alert = one(story.alerts("workup_overdue"), "work-up alert")
    mr = story.exam(on_day(20, 22), "MR")
    assert story.alerts("workup_overdue") == []

    # No DELETE for exams in the API: deleted through the ORM.
    ImagingExam.objects.get(pk=mr["id"]).delete()
    story.changed_outside_the_api()

    alert = one(story.alerts("workup_overdue"), "open work-up alert")
    assert alert["checkpoint"] == first_alert["checkpoint"]
    assert alert["severity"] == "urgent"


def test_deleting_the_baseline_film_makes_the_baseline_overdue_again(story):
    surgery = story.surgery(DAY0)
    film = story.exam(on_day(10))
    story.wait_until(on_day(50))
    assert story.alerts("checkpoint_overdue") == []

    # No DELETE for exams in the API: deleted through the ORM.
    ImagingExam.objects.get(pk=film["id"]).delete()
    story.changed_outside_the_api()

    baseline = story.checkpoints(surgery)["baseline_film"]
    assert baseline["status"] == "overdue"
    alert = one(story.alerts("checkpoint_overdue"), "open overdue alert")
    assert (alert["checkpoint"], alert["severity"]) == (baseline["id"], "high")


# --- A corrected pain score ---------------------------------------------------------------


def test_a_corrected_pain_score_withdraws_the_detected_recurrence(story):
    story.surgery(DAY0)
    story.exam(on_day(10))  # the baseline; no other film, so the work-up stays unanswered
    story.assessment(on_day(30), 2)
    rise = story.assessment(on_day(120), 6)
    detected = one([e for e in story.events() if e["code"] == "pain_recurrence"], "recurrence")
    assert detected["source"] == "detected"
    story.wait_until(on_day(151))  # the 30-day work-up is overdue
    assert one(story.alerts("workup_overdue"), "work-up alert")["severity"] == "high"

    story.patch(f"/api/v1/assessments/{rise['id']}/", {"nrs_back": 3})  # 2 then 3: no rise

    live = [w for w in story.workups() if w["status"] != "waived"]
    assert live == [], "the withdrawn recurrence's work-up must be closed"
    for closed in story.workups():
        assert closed["waived_reason"].strip(), "closed with the reason"
    assert story.alerts("workup_overdue") == []
    assert_closed_by_the_service(one(story.resolved("workup_overdue"), "resolved work-up alert"))


def test_a_recurrence_recorded_by_hand_is_never_withdrawn_by_a_score(story):
    """Guard: only a detected event follows the scores."""
    story.surgery(DAY0)
    story.exam(on_day(10))
    story.assessment(on_day(30), 2)
    later = story.assessment(on_day(120), 3)
    story.event("pain_recurrence", on_day(120, 11), notes="Back pain is back, says the patient.")
    story.wait_until(on_day(151))
    alert = one(story.alerts("workup_overdue"), "work-up alert")

    story.patch(f"/api/v1/assessments/{later['id']}/", {"nrs_back": 2})

    assert one(story.workups(), "work-up")["status"] == "overdue"
    assert one(story.alerts("workup_overdue"), "work-up alert")["id"] == alert["id"]
