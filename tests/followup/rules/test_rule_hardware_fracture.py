"""hardware_fracture: rod_fracture or screw_fracture (high).

[Guide]: "In posterior instrumentation, one must check for rod or screw breakage".
"""

import pytest

from .builders import context, exam, severities, subjects

CODE = "hardware_fracture"


@pytest.mark.parametrize("code", ["rod_fracture", "screw_fracture"])
def test_broken_hardware_is_high(code):
    ctx = context(exam(500, "XR", [(code, True, "L5", "left")]))
    assert severities(ctx, CODE) == ["high"]


@pytest.mark.parametrize("code", ["rod_fracture", "screw_fracture"])
def test_intact_hardware_raises_nothing(code):
    assert severities(context(exam(500, "XR", [(code, False, "L5", "left")])), CODE) == []


def test_a_rod_and_a_screw_at_one_site_are_two_subjects():
    ctx = context(
        exam(
            500,
            "XR",
            [("rod_fracture", True, "L5", "left"), ("screw_fracture", True, "L5", "left")],
        )
    )
    assert severities(ctx, CODE) == ["high", "high"]
    assert len(subjects(ctx, CODE)) == 2


def test_two_screws_are_two_subjects():
    ctx = context(
        exam(
            500,
            "XR",
            [("screw_fracture", True, "S1", "left"), ("screw_fracture", True, "S1", "right")],
        )
    )
    assert len(subjects(ctx, CODE)) == 2
