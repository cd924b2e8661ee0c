"""CLINICAL_RULES §4 `baseline_missing`: the baseline window has closed with no baseline film
(not waived), and a later fusion film is recorded that has nothing to be compared with.
Never on an early film while the window is still open, never once staff waived the
baseline."""

from .story import DAY0, on_day, one


def test_an_early_ct_while_the_baseline_window_is_open_raises_no_baseline_missing(story):
    surgery = story.surgery(DAY0)

    story.exam(on_day(3), "CT")
    assert story.alerts("baseline_missing") == []

    story.wait_until(on_day(30))  # the window is still open
    assert story.alerts("baseline_missing") == []
    assert story.checkpoints(surgery)["baseline_film"]["status"] == "open"


def test_no_baseline_missing_once_staff_waived_the_baseline(story):
    surgery = story.surgery(DAY0)
    story.wait_until(on_day(50))
    baseline = story.checkpoints(surgery)["baseline_film"]
    one(story.alerts("checkpoint_overdue"), "overdue baseline alert")

    story.waive(baseline["id"], "Referred to us at day 50: no early film was taken.")
    assert story.alerts("checkpoint_overdue") == []

    story.exam(on_day(180))
    assert story.alerts("baseline_missing") == []
    assert story.checkpoints(surgery)["baseline_film"]["status"] == "waived"


def test_a_later_film_without_a_baseline_raises_baseline_missing(story):
    """Guard: the window closed, no baseline, a bridging film: nothing to compare it with."""
    story.surgery(DAY0)

    film = story.exam(on_day(180))

    missing = one(story.alerts("baseline_missing"), "open baseline missing alert")
    assert (missing["severity"], missing["exam"]) == ("warning", film["id"])


def test_an_early_film_entered_late_resolves_baseline_missing(story):
    """Guard: the cause is gone once the early film is recorded."""
    surgery = story.surgery(DAY0)
    story.exam(on_day(180))
    one(story.alerts("baseline_missing"), "open baseline missing alert")

    early = story.exam(on_day(20), at=on_day(181))

    assert story.checkpoints(surgery)["baseline_film"]["satisfied_by"] == early["id"]
    assert story.alerts("baseline_missing") == []
    closed = one(story.resolved("baseline_missing"), "resolved baseline missing alert")
    assert closed["auto_resolved"] and closed["resolution_note"].strip()


def test_no_baseline_missing_when_the_baseline_was_taken(story):
    """Guard: the early film is the baseline; later films are compared with it."""
    story.surgery(DAY0)
    story.exam(on_day(10))
    story.exam(on_day(180))
    story.exam(on_day(400), "CT")

    assert story.alerts("baseline_missing") == []
