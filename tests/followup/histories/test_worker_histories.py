"""The key histories again, with a real Celery worker on Redis doing the refresh that each
request nudges (the sweep then runs in-process for the overdue alerts, as the beat would).
The dates are in 2023, so that every request is in the past without moving the clock."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from .story import Story, finding, on_day, one

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

DAY0 = datetime(2023, 3, 6, 14, 0, tzinfo=ZoneInfo("Europe/Paris"))
EXTENSION = on_day(250, hour=9, day0=DAY0)


def day(n: int, hour: int = 10):
    return on_day(n, hour, day0=DAY0)


@pytest.fixture
def story(celery_worker_process, protocols, integration_a) -> Story:
    return Story(integration_a, worker=True)


def test_a_film_at_day_60_is_a_late_baseline(story):
    """Guard: the worker's matching, where today's code is already right."""
    surgery = story.surgery(DAY0)

    film = story.exam(day(60))

    baseline = story.checkpoints(surgery)["baseline_film"]
    assert (baseline["satisfied_by"], baseline["late"]) == (film["id"], True)


def test_a_second_film_in_the_bridging_window_is_never_a_late_baseline(story):
    surgery = story.surgery(DAY0)
    story.exam(day(100))
    story.exam(day(150))

    baseline = story.checkpoints(surgery)["baseline_film"]
    assert (baseline["satisfied_by"], baseline["status"]) == (None, "overdue")
    overdue = {a["checkpoint"]: a for a in story.alerts("checkpoint_overdue")}
    assert overdue[baseline["id"]]["severity"] == "high"
    one(story.alerts("baseline_missing"), "open baseline missing alert")


def test_gas_in_the_disc_of_the_first_fusion_is_micromotion_after_an_extension(story):
    first = story.surgery(DAY0, levels=["L4-L5"])
    story.exam(day(10))
    second = story.surgery(EXTENSION, levels=["L3-L4"])
    story.exam(on_day(5, day0=EXTENSION))

    ct = story.exam(on_day(100, day0=EXTENSION), "CT", [finding("vacuum_disc", True, "L4-L5")])

    assert ct["surgery"] == second
    alert = one(story.alerts("micromotion"), "open micromotion alert")
    assert (alert["surgery"], alert["exam"]) == (first, ct["id"])


def test_a_film_dated_the_surgery_day_is_the_baseline_of_that_surgery(story):
    surgery = story.surgery("2023-03-06T14:00:00+01:00")

    film = story.exam("2023-03-06", "XR")

    assert film["surgery"] == surgery
    assert story.checkpoints(surgery)["baseline_film"]["satisfied_by"] == film["id"]


def test_an_exam_moved_to_another_surgery_keeps_one_alert_on_its_new_surgery(story):
    first = story.surgery(DAY0, procedure="discectomy", levels=["L5-S1"], hardware=[])
    second = story.surgery(day(100, 9), procedure="decompression", levels=["L4-L5"], hardware=[])
    mr = story.exam(day(120), "MR", [finding("fluid_collection", "abscess")], surgery=first)

    story.patch(f"/api/v1/exams/{mr['id']}/", {"surgery": second})

    assert one(story.alerts("abscess"), "open abscess alert")["surgery"] == second
    old = one(story.resolved("abscess"), "resolved abscess alert")
    assert old["surgery"] == first and old["auto_resolved"] and old["resolution_note"]


def test_two_surgeries_over_the_dose_threshold_give_one_dose_alert(story):
    story.surgery(DAY0, levels=["L4-L5"])
    story.exam(day(1))
    story.exam(day(2), "CT", dose="12.0")
    story.exam(day(30), "CT", dose="10.0")
    story.surgery(day(100, 9), levels=["L3-L4"])
    story.exam(day(101))
    story.exam(day(110), "CT", dose="5.0")

    one(story.alerts("cumulative_dose"), "open dose alert")
