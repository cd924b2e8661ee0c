"""CLINICAL_RULES §3 "Levels", for comparisons: a joint finding sent without a level on a
single-level surgery is at that level; on a multi-level surgery its level is unknown and it
is never compared with a value at a known level. A span (`L3-L5`) fuses every joint in it."""

from .story import DAY0, finding, on_day, one


def spacer(mm: float, level: str = "") -> dict:
    return finding("spacer_posterior_distance_mm", mm, level)


def test_a_baseline_value_without_a_level_is_at_the_level_of_a_single_level_fusion(story):
    story.surgery(DAY0, levels=["L4-L5"])
    story.exam(on_day(10), findings=[spacer(5.0)])
    later = story.exam(on_day(200), findings=[spacer(2.5, "L4-L5")])

    moved = one(story.alerts("spacer_migration"), "open spacer migration alert")
    assert (moved["exam"], moved["severity"]) == (later["id"], "high")


def test_a_later_value_without_a_level_is_at_the_level_of_a_single_level_fusion(story):
    """Guard: the same, the other way round."""
    story.surgery(DAY0, levels=["L4-L5"])
    story.exam(on_day(10), findings=[spacer(5.0, "L4-L5")])
    story.exam(on_day(200), findings=[spacer(2.5)])

    assert len(story.alerts("spacer_migration")) == 1


def test_on_a_two_level_fusion_a_later_value_without_a_level_is_not_compared(story):
    story.surgery(DAY0, levels=["L3-L4", "L4-L5"])
    story.exam(on_day(10), findings=[spacer(5.0, "L3-L4"), spacer(5.0, "L4-L5")])
    story.exam(on_day(200), findings=[spacer(2.5)])

    assert story.alerts("spacer_migration") == []


def test_on_a_two_level_fusion_a_baseline_value_without_a_level_is_not_compared(story):
    """Guard: the same, the other way round."""
    story.surgery(DAY0, levels=["L3-L4", "L4-L5"])
    story.exam(on_day(10), findings=[spacer(5.0)])
    story.exam(on_day(200), findings=[spacer(2.5, "L4-L5")])

    assert story.alerts("spacer_migration") == []


def test_values_at_the_same_level_of_a_two_level_fusion_are_compared(story):
    """Guard: known levels are compared level by level."""
    story.surgery(DAY0, levels=["L3-L4", "L4-L5"])
    story.exam(on_day(10), findings=[spacer(5.0, "L3-L4"), spacer(5.0, "L4-L5")])
    story.exam(on_day(200), findings=[spacer(5.0, "L3-L4"), spacer(2.5, "L4-L5")])

    moved = one(story.alerts("spacer_migration"), "open spacer migration alert")
    assert moved["subject"].startswith("L4-L5")


def test_an_l3_l5_fusion_fuses_both_of_its_joints(story):
    """Guard: gas in L3-L4 or L4-L5 is micromotion after an L3-L5 fusion; L5-S1 still moves."""
    story.surgery(DAY0, levels=["L3-L5"])
    story.exam(on_day(10))
    story.exam(
        on_day(400), "CT",
        [finding("vacuum_disc", True, "L3-L4"), finding("vacuum_facet", True, "L4-L5"),
         finding("vacuum_disc", True, "L5-S1")],
    )  # fmt: skip

    levels = {a["subject"].split(":")[0] for a in story.alerts("micromotion")}
    assert levels == {"L3-L4", "L4-L5"}
