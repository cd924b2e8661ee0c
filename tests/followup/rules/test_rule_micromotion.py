"""micromotion: vacuum_disc or vacuum_facet at a fused level (high).

[Guide]: gas in the disc or facet joints "means that this intervertebral joint moves,
which is not expected when fusion occurs". A joint that was not fused is expected to move.
"""

import pytest

from .builders import context, discectomy, exam, fusion, severities, subjects

CODE = "micromotion"


def gas(code, level, surgery=None, side=""):
    return context(exam(400, "CT", [(code, True, level, side)]), surgery=surgery or fusion())


@pytest.mark.parametrize("code", ["vacuum_disc", "vacuum_facet"])
def test_gas_in_a_fused_joint_is_high(code):
    assert severities(gas(code, "L4-L5", fusion(["L4-L5"])), CODE) == ["high"]


def test_no_gas_no_alert():
    ctx = context(exam(400, "CT", [("vacuum_disc", False, "L4-L5")]), surgery=fusion(["L4-L5"]))
    assert severities(ctx, CODE) == []


def test_gas_far_from_the_fusion_is_not_micromotion():
    assert severities(gas("vacuum_disc", "L1-L2", fusion(["L4-L5"])), CODE) == []


@pytest.mark.parametrize("level", ["L3-L4", "L5-S1"])
def test_the_disc_next_to_the_fusion_is_not_fused(level):
    # L3-L4 and L5-S1 share a vertebra with an L4-L5 fusion, but those joints were not
    # fused: gas there is adjacent-segment degeneration, not a failed fusion.
    assert severities(gas("vacuum_disc", level, fusion(["L4-L5"])), CODE) == []


def test_the_facet_next_to_the_fusion_is_not_fused():
    assert severities(gas("vacuum_facet", "L3-L4", fusion(["L4-L5"]), "left"), CODE) == []


def test_every_joint_of_a_two_level_fusion_is_fused():
    two_levels = fusion(["L3-L5"])
    assert severities(gas("vacuum_disc", "L3-L4", two_levels), CODE) == ["high"]
    assert severities(gas("vacuum_disc", "L4-L5", two_levels), CODE) == ["high"]
    assert severities(gas("vacuum_disc", "L5-S1", two_levels), CODE) == []


def test_a_skipped_level_between_two_fusions_is_not_fused():
    skip = fusion(["L3-L4", "L5-S1"])
    assert severities(gas("vacuum_disc", "L4-L5", skip), CODE) == []


def test_nothing_is_fused_after_a_discectomy():
    assert severities(gas("vacuum_disc", "L4-L5", discectomy(["L4-L5"])), CODE) == []


def test_gas_only_in_the_spacer_is_never_micromotion():
    assert severities(gas("vacuum_spacer_only", "L4-L5", fusion(["L4-L5"])), CODE) == []


def test_each_joint_is_a_subject():
    ctx = context(
        exam(
            400,
            "CT",
            [("vacuum_facet", True, "L4-L5", "left"), ("vacuum_facet", True, "L4-L5", "right")],
        ),
        surgery=fusion(["L4-L5"]),
    )
    assert len(subjects(ctx, CODE)) == 2
