"""locked_pseudarthrosis: gas only in the spacer, no other sign of pseudarthrosis (info).

[Guide]: "If gas is present only in a spacer, without any other sign of pseudarthrosis,
this is the so-called 'locked pseudarthrosis', which is not considered a cause of
instability". It must never raise micromotion.
"""

import pytest

from .builders import context, exam, limits, severities

CODE = "locked_pseudarthrosis"
SPACER_GAS = ("vacuum_spacer_only", True, "L4-L5")


def ct(*findings, day=400, **kwargs):
    return context(exam(day, "CT", [SPACER_GAS, *findings]), **kwargs)


def test_gas_only_in_the_spacer_is_information_and_not_micromotion():
    ctx = ct(("bridging", "complete", "L4-L5"), ("screw_lucency_mm", 0.5, "L5", "left"))
    assert severities(ctx, CODE) == ["info"]
    assert severities(ctx, "micromotion") == []


def test_no_gas_in_the_spacer_no_alert():
    ctx = context(exam(400, "CT", [("vacuum_spacer_only", False, "L4-L5")]))
    assert severities(ctx, CODE) == []


@pytest.mark.parametrize(
    "sign",
    [
        ("vacuum_disc", True, "L4-L5"),
        ("vacuum_facet", True, "L4-L5", "left"),
        ("screw_lucency_mm", 2.1, "L5", "left"),
        ("rod_fracture", True, "L4-L5", "right"),
        ("screw_fracture", True, "L5", "left"),
        ("bridging", "none", "L4-L5"),
        ("bridging", "partial", "L4-L5"),
    ],
)
def test_another_sign_of_pseudarthrosis_makes_it_not_locked(sign):
    assert severities(ct(sign), CODE) == []


def test_a_tolerated_lucency_is_not_another_sign():
    assert severities(ct(("screw_lucency_mm", 2.0, "L5", "left")), CODE) == ["info"]


def test_incomplete_bridging_before_one_year_is_not_yet_a_sign():
    assert severities(ct(("bridging", "partial", "L4-L5"), day=300), CODE) == ["info"]


def test_ill_defined_resorption_around_a_screw_is_another_sign():
    # Fig. 5: osteolysis with no sclerotic rim "should suggest septic pseudarthrosis".
    ctx = ct(("periscrew_margin", "ill_defined", "L5", "left"))
    assert severities(ctx, CODE) == []


def test_a_spacer_that_moved_since_the_baseline_is_another_sign():
    # [Guide]: if the spacer is not in the same position, "the spacer has moved, which
    # means that the fusion has failed" (Fig. 11).
    baseline = exam(3, "XR", [("spacer_posterior_distance_mm", 5, "L4-L5")])
    ctx = ct(("spacer_posterior_distance_mm", 2.5, "L4-L5"), baseline=baseline)
    assert severities(ctx, "spacer_migration") == ["high"]
    assert severities(ctx, CODE) == []


def test_the_loosening_threshold_is_the_clinics():
    wide = limits(screw_lucency_mm=3)
    assert severities(ct(("screw_lucency_mm", 2.5, "L5", "left"), limits=wide), CODE) == ["info"]
