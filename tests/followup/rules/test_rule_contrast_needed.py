"""contrast_needed: a herniation similar to the pre-operative one on a non-contrast MR at
t < 183 (info).

[Guide]: "Post-contrast images must be performed if preoperative and postoperative images
are similar"; the hernial image may persist 6 months; gadolinium "is generally not useful
more than 6 months after surgery" (Fig. 7).
"""

import pytest

from .builders import context, discectomy, exam, limits, raised, severities

CODE = "contrast_needed"


def herniation(value, day, modality="MR", contrast="none", **kwargs):
    scan = exam(day, modality, [("disc_herniation", value, "L5-S1", "left")], contrast)
    return context(scan, surgery=discectomy(["L5-S1"]), **kwargs)


@pytest.mark.parametrize(
    ("day", "expected"), [(10, ["info"]), (182, ["info"]), (183, []), (400, [])]
)
def test_a_similar_image_before_six_months_calls_for_contrast(day, expected):
    assert severities(herniation("similar_to_preop", day), CODE) == expected


def test_not_when_the_mr_already_had_contrast():
    assert severities(herniation("similar_to_preop", 30, contrast="gadolinium"), CODE) == []


def test_only_for_an_mr():
    assert severities(herniation("similar_to_preop", 30, modality="CT"), CODE) == []


@pytest.mark.parametrize("value", ["none", "different_from_preop"])
def test_not_when_morphology_already_answers(value):
    # No herniation: not a recurrence; a different one: obviously a recurrence, contrast
    # unnecessary ([Guide, "Back to basics"]).
    assert severities(herniation(value, 30), CODE) == []


def test_it_is_not_a_recurrence_by_itself():
    ctx = herniation("similar_to_preop", 30)
    assert [a.code for a in raised(ctx, CODE)] == [CODE]
    assert severities(ctx, "herniation_recurrence") == []


def test_the_cutoff_is_the_clinics():
    early = limits(gadolinium_cutoff_days=90)
    assert severities(herniation("similar_to_preop", 89, limits=early), CODE) == ["info"]
    assert severities(herniation("similar_to_preop", 100, limits=early), CODE) == []
