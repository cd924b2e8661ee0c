"""CLINICAL_RULES §2 "Several surgeries": an exam answers the fitting checkpoints of every
surgery whose windows contain it; its findings are judged against the surgery that operated
their level (the most recent one that did), a finding without a level against the exam's
own surgery. §4: t counts from that surgery; micromotion is gas at a level fused by any of
the patient's fusions done before the exam.

The story: a TLIF at L4-L5 on day 0, then an extension to L3-L4 on day 250, each with its
early baseline film (and the first with its bridging film)."""

import pytest

from .story import DAY0, finding, on_day, one

EXTENSION = on_day(250, hour=9)


def extension(n: int, hour: int = 10):
    """Day n after the extension."""
    return on_day(n, hour, day0=EXTENSION)


@pytest.fixture
def fusions(story) -> tuple[int, int]:
    first = story.surgery(DAY0, levels=["L4-L5"])
    story.exam(on_day(10))
    story.exam(on_day(180))
    second = story.surgery(EXTENSION, levels=["L3-L4"])
    story.exam(extension(5))
    return first, second


def test_one_film_answers_the_first_fusions_12_month_assessment_and_the_seconds_bridging(
    story, fusions
):
    first, second = fusions
    film = story.exam(on_day(365))  # day 115 of the extension

    assert film["surgery"] == second
    assert story.checkpoints(first)["fusion_assessment"]["satisfied_by"] == film["id"]
    assert story.checkpoints(second)["bridging_film"]["satisfied_by"] == film["id"]
    story.wait_until(on_day(430))  # past the first fusion's window, inside the second's
    assert story.checkpoints(first)["fusion_assessment"]["status"] == "satisfied"
    assert story.alerts("checkpoint_overdue") == []


def test_gas_in_the_disc_of_the_first_fusion_is_micromotion_on_an_exam_of_the_extension(
    story, fusions
):
    first, second = fusions
    ct = story.exam(extension(100), "CT", [finding("vacuum_disc", True, "L4-L5")])

    assert ct["surgery"] == second
    alert = one(story.alerts("micromotion"), "open micromotion alert")
    assert (alert["surgery"], alert["exam"], alert["severity"]) == (first, ct["id"], "high")
    assert "L4-L5" in alert["subject"]


def test_gas_in_each_disc_is_judged_against_the_surgery_that_fused_it(story, fusions):
    first, second = fusions
    story.exam(
        extension(100), "CT",
        [finding("vacuum_disc", True, "L4-L5"), finding("vacuum_facet", True, "L3-L4"),
         finding("vacuum_disc", True, "L2-L3")],
    )  # fmt: skip

    found = {(a["surgery"], a["subject"].split(":")[0]) for a in story.alerts("micromotion")}
    assert found == {(first, "L4-L5"), (second, "L3-L4")}  # L2-L3 was never fused


def test_delayed_fusion_counts_days_from_the_surgery_that_fused_the_level(story, fusions):
    first, _ = fusions
    # Day 300 of the first fusion, day 50 of the extension.
    ct = story.exam(
        on_day(300), "CT",
        [finding("bridging", "none", "L4-L5"), finding("bridging", "none", "L3-L4")],
    )  # fmt: skip

    alert = one(story.alerts("delayed_fusion"), "open delayed fusion alert")
    assert (alert["surgery"], alert["exam"]) == (first, ct["id"])
    assert alert["subject"].startswith("L4-L5")


def test_pseudarthrosis_counts_days_from_the_surgery_that_fused_the_level(story, fusions):
    first, _ = fusions
    # Day 400 of the first fusion, day 150 of the extension.
    story.exam(
        on_day(400), "CT",
        [finding("bridging", "partial", "L4-L5"), finding("bridging", "partial", "L3-L4")],
    )  # fmt: skip

    alert = one(story.alerts("pseudarthrosis_suspected"), "open pseudarthrosis suspected alert")
    assert (alert["surgery"], alert["severity"]) == (first, "high")
    assert alert["subject"].startswith("L4-L5")


def test_a_finding_without_a_level_is_judged_against_the_exams_own_surgery(story, fusions):
    """Guard: day 300 of the first fusion but day 50 of the extension the exam belongs to."""
    story.exam(on_day(300), "CT", [finding("bridging", "none")])

    assert story.alerts("delayed_fusion") == []
