"""CLINICAL_RULES §2: an exam in no window can only satisfy, late, the checkpoint whose window
closed most recently before it. A film at day 60 is a late baseline; a film at day 150 or
180 is never the baseline; a film at day 430 is a late fusion assessment."""

from .story import finding, on_day, one


def overdue_alerts_by_checkpoint(story) -> dict[int, dict]:
    return {a["checkpoint"]: a for a in story.alerts("checkpoint_overdue")}


def test_a_film_at_day_60_is_a_late_baseline_and_its_overdue_alert_resolves(story):
    surgery = story.surgery()
    story.wait_until(on_day(50))
    baseline = story.checkpoints(surgery)["baseline_film"]
    assert overdue_alerts_by_checkpoint(story)[baseline["id"]]["severity"] == "high"

    film = story.exam(on_day(60))

    baseline = story.checkpoints(surgery)["baseline_film"]
    assert (baseline["satisfied_by"], baseline["late"]) == (film["id"], True)
    assert baseline["id"] not in overdue_alerts_by_checkpoint(story)
    closed = one(story.resolved("checkpoint_overdue"), "resolved checkpoint overdue alert")
    assert closed["auto_resolved"] and closed["resolution_note"]


def test_a_second_film_in_the_bridging_window_is_never_a_late_baseline(story):
    surgery = story.surgery()
    first = story.exam(on_day(100))
    story.exam(on_day(150))

    points = story.checkpoints(surgery)
    assert points["bridging_film"]["satisfied_by"] == first["id"]
    assert (points["baseline_film"]["satisfied_by"], points["baseline_film"]["status"]) == (
        None, "overdue",
    )  # fmt: skip
    alert = overdue_alerts_by_checkpoint(story).get(points["baseline_film"]["id"])
    assert alert is not None and alert["severity"] == "high", "the baseline is still missing"
    missing = one(story.alerts("baseline_missing"), "open baseline missing alert")
    assert missing["severity"] == "warning"


def test_a_ct_then_a_film_in_the_bridging_window_leave_the_baseline_missing(story):
    surgery = story.surgery()
    ct = story.exam(on_day(100), "CT")
    story.exam(on_day(150), "XR")

    points = story.checkpoints(surgery)
    assert points["bridging_film"]["satisfied_by"] == ct["id"]
    assert points["baseline_film"]["satisfied_by"] is None
    assert points["baseline_film"]["id"] in overdue_alerts_by_checkpoint(story)
    assert len(story.alerts("baseline_missing")) == 1


def test_a_film_at_day_430_is_a_late_fusion_assessment_not_a_late_baseline(story):
    surgery = story.surgery()
    story.wait_until(on_day(428))
    before = story.checkpoints(surgery)
    assert set(overdue_alerts_by_checkpoint(story)) == {
        before[code]["id"] for code in ("baseline_film", "bridging_film", "fusion_assessment")
    }

    film = story.exam(on_day(430))

    points = story.checkpoints(surgery)
    assessment = points["fusion_assessment"]
    assert (assessment["satisfied_by"], assessment["late"]) == (film["id"], True)
    assert points["baseline_film"]["satisfied_by"] is None
    assert points["bridging_film"]["satisfied_by"] is None
    assert set(overdue_alerts_by_checkpoint(story)) == {
        points["baseline_film"]["id"], points["bridging_film"]["id"]
    }  # fmt: skip
    closed = one(story.resolved("checkpoint_overdue"), "resolved checkpoint overdue alert")
    assert closed["checkpoint"] == assessment["id"]
    assert closed["auto_resolved"] and closed["resolution_note"]


def test_the_spacer_is_never_compared_with_a_film_of_the_bridging_window(story):
    """No early film: there is no reference position, so no migration can be measured
    (§4 spacer_migration compares with the baseline film); the baseline is missing."""
    story.surgery()
    story.exam(on_day(100), findings=[finding("spacer_posterior_distance_mm", 5.0, "L4-L5")])
    story.exam(on_day(150), findings=[finding("spacer_posterior_distance_mm", 5.0, "L4-L5")])
    story.exam(on_day(400), findings=[finding("spacer_posterior_distance_mm", 2.5, "L4-L5")])

    assert story.alerts("spacer_migration") == []
    assert len(story.alerts("baseline_missing")) == 1


def test_an_early_film_entered_late_becomes_the_reference_of_later_films(story):
    """The guard of the test above: with a real baseline, the spacer is compared with it."""
    surgery = story.surgery()
    story.exam(on_day(150), findings=[finding("spacer_posterior_distance_mm", 5.0, "L4-L5")])
    story.exam(on_day(400), findings=[finding("spacer_posterior_distance_mm", 2.5, "L4-L5")])
    early = story.exam(
        on_day(10), findings=[finding("spacer_posterior_distance_mm", 5.0, "L4-L5")],
        at=on_day(401),
    )  # fmt: skip

    assert story.checkpoints(surgery)["baseline_film"]["satisfied_by"] == early["id"]
    moved = one(story.alerts("spacer_migration"), "open spacer migration alert")
    assert moved["severity"] == "high"
    assert story.alerts("baseline_missing") == []
