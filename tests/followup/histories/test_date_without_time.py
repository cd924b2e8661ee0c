"""CLINICAL_RULES §2 "A date without a time": `2025-01-06` means that day in the clinic's
zone; an exam dated the day of a surgery belongs to that surgery (an immediate
post-operative film), never to an earlier one and never to none.

The surgery is at 14:00 on 2025-01-06 (Paris); the film is sent as "2025-01-06"."""

from datetime import timedelta

from .story import DAY0, on_day

SURGERY_DAY = "2025-01-06"
EVENING = on_day(0, 18)
assert DAY0.date().isoformat() == SURGERY_DAY


def test_a_film_dated_the_surgery_day_belongs_to_that_surgery_and_is_its_baseline(story):
    surgery = story.surgery(DAY0)

    film = story.exam(SURGERY_DAY, "XR", at=EVENING)

    assert film["surgery"] == surgery
    baseline = story.checkpoints(surgery)["baseline_film"]
    assert (baseline["satisfied_by"], baseline["late"]) == (film["id"], False)


def test_a_film_dated_the_surgery_day_may_name_its_surgery(story):
    surgery = story.surgery(DAY0)

    film = story.exam(SURGERY_DAY, "XR", surgery=surgery, at=EVENING, expect=201)

    assert film["surgery"] == surgery
    assert story.checkpoints(surgery)["baseline_film"]["satisfied_by"] == film["id"]


def test_a_film_dated_the_surgery_day_never_belongs_to_an_earlier_surgery(story):
    earlier = story.surgery(DAY0 - timedelta(days=300), procedure="discectomy",
                            levels=["L5-S1"], hardware=[])  # fmt: skip
    surgery = story.surgery(DAY0)

    film = story.exam(SURGERY_DAY, "XR", at=EVENING)

    assert film["surgery"] == surgery != earlier
    assert story.checkpoints(surgery)["baseline_film"]["satisfied_by"] == film["id"]


def test_an_event_dated_the_surgery_day_belongs_to_that_surgery(story):
    surgery = story.surgery(DAY0)

    event = story.event("new_radicular_pain", SURGERY_DAY, at=EVENING)

    assert event["surgery"] == surgery


def test_a_film_dated_the_day_after_belongs_to_the_surgery(story):
    """Guard: a date alone after the surgery day was never in doubt."""
    surgery = story.surgery(DAY0)

    film = story.exam("2025-01-07", "XR")

    assert film["surgery"] == surgery
    assert story.checkpoints(surgery)["baseline_film"]["satisfied_by"] == film["id"]
