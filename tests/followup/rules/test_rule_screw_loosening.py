"""screw_loosening: screw_lucency_mm > 2 (high).

[Guide, "Semiology of pseudarthrosis"]: "Loosening is classically defined as bone
resorption of more than 2 mm around the screw".
"""

import pytest

from .builders import context, exam, limits, raised, severities, subjects

CODE = "screw_loosening"


def lucency(mm, level="L5", side="left", **kwargs):
    return context(exam(365, "CT", [("screw_lucency_mm", mm, level, side)]), **kwargs)


@pytest.mark.parametrize(
    ("mm", "expected"),
    [(0, []), (1.9, []), (2.0, []), (2.1, ["high"]), (4, ["high"]), (20, ["high"])],
)
def test_more_than_2_mm_is_loosening(mm, expected):
    assert severities(lucency(mm), CODE) == expected


def test_the_alert_is_about_the_screw():
    [alert] = raised(lucency(3), CODE)
    assert alert.subject == "L5:left"


def test_two_screws_of_one_vertebra_are_two_subjects():
    ctx = context(
        exam(
            365,
            "CT",
            [("screw_lucency_mm", 2.1, "L5", "left"), ("screw_lucency_mm", 2.0, "L5", "right")],
        )
    )
    assert subjects(ctx, CODE) == {"L5:left"}

    both = context(
        exam(
            365,
            "CT",
            [("screw_lucency_mm", 2.5, "L5", "left"), ("screw_lucency_mm", 3, "L5", "right")],
        )
    )
    assert subjects(both, CODE) == {"L5:left", "L5:right"}


def test_a_sclerotic_rim_does_not_change_it():
    ctx = context(
        exam(
            400,
            "CT",
            [
                ("screw_lucency_mm", 2.1, "S1", "right"),
                ("periscrew_margin", "sclerotic_rim", "S1", "right"),
            ],
        )
    )
    assert severities(ctx, CODE) == ["high"]


def test_the_threshold_is_the_clinics():
    assert severities(lucency(2.5, limits=limits(screw_lucency_mm=3)), CODE) == []
    assert severities(lucency(3.1, limits=limits(screw_lucency_mm=3)), CODE) == ["high"]
    assert severities(lucency(2.0, limits=limits(screw_lucency_mm=1.5)), CODE) == ["high"]
