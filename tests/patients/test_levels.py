"""patients/levels.py: spinal levels normalised, their kinds, L6 with six lumbar vertebrae
(CLINICAL_RULES §3 "Levels"). Pure functions: no database."""

import pytest
from django.core.exceptions import ValidationError

from imaging.vocabulary import VOCABULARY
from patients.levels import (
    LevelKind,
    check_level,
    is_joint,
    is_vertebra,
    joints_of,
    normalise,
    validate_level,
    vertebrae_of,
)


@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        ("L4-L5", "L4-L5"),
        ("l4-l5", "L4-L5"),
        ("L4/L5", "L4-L5"),
        ("L4-5", "L4-L5"),
        ("l4/5", "L4-L5"),
        (" L4 - L5 ", "L4-L5"),
        ("L5\u2013S1", "L5-S1"),  # an en dash
        ("l5-s1", "L5-S1"),
        ("T12-L1", "T12-L1"),
        ("c7/t1", "C7-T1"),
        ("L3-L5", "L3-L5"),
        ("L4-S1", "L4-S1"),
        ("l5", "L5"),
        ("L6", "L6"),
        ("L5-6", "L5-L6"),
        ("L6/S1", "L6-S1"),
    ],
)
def test_written_forms_are_normalised(written, canonical):
    assert normalise(written) == canonical


@pytest.mark.parametrize(
    "text", ["", "L", "L9", "L7", "S2", "C8", "T13", "L5-L4", "L4-L4", "Lumbar 5", "L4L5",
             "L4--L5", "4-5", "L4-L5-S1"],
)  # fmt: skip
def test_what_is_not_a_level_is_refused_with_a_message(text):
    with pytest.raises(ValidationError) as refused:
        normalise(text)
    (message,) = refused.value.messages
    assert "spinal level" in message or "below the first" in message


def test_a_hostile_payload_is_not_echoed_whole():
    with pytest.raises(ValidationError) as refused:
        normalise("L" * 10_000)
    assert len(refused.value.messages[0]) < 300


def test_the_model_validator_takes_canonical_levels_including_l6():
    for level in ("L5", "L4-L5", "L6", "L5-L6", "L6-S1", "L4-S1", "C1"):
        validate_level(level)
    for level in ("l4-l5", "L4/L5", "L4-5", "L9"):
        with pytest.raises(ValidationError):
            validate_level(level)


def test_kinds():
    assert is_vertebra("L5") and is_vertebra("l6")
    assert not is_vertebra("L4-L5") and not is_vertebra("L9")
    assert is_joint("L4-L5") and is_joint("l4/5") and is_joint("T12-L1") and is_joint("L5-S1")
    assert not is_joint("L5") and not is_joint("L3-L5") and not is_joint("nonsense")


def test_joints_with_six_lumbar_vertebrae():
    assert is_joint("L5-L6", 6) and is_joint("L6-S1", 6)
    assert not is_joint("L5-S1", 6)  # L6 lies between
    assert is_joint("L6-S1")  # a level naming L6 is read with six, whatever the default


def test_vertebrae_of_keeps_its_behaviour():
    assert vertebrae_of("L4-S1") == ["L4", "L5", "S1"]
    assert vertebrae_of("L5") == ["L5"]
    assert vertebrae_of("T11-L2") == ["T11", "T12", "L1", "L2"]


def test_vertebrae_of_with_six_lumbar_vertebrae():
    assert vertebrae_of("L4-S1", 6) == ["L4", "L5", "L6", "S1"]
    assert vertebrae_of("L6-S1") == ["L6", "S1"]
    assert vertebrae_of("l4-5") == ["L4", "L5"]


def test_joints_of():
    assert joints_of("L3-L5") == ["L3-L4", "L4-L5"]
    assert joints_of("L4-L5") == ["L4-L5"]
    assert joints_of("L4-S1") == ["L4-L5", "L5-S1"]
    assert joints_of("L4-S1", 6) == ["L4-L5", "L5-L6", "L6-S1"]
    assert joints_of("L5") == []


@pytest.mark.parametrize(
    ("level", "kind", "lumbar", "canonical"),
    [
        ("l4/5", LevelKind.JOINT, 5, "L4-L5"),
        ("L5-S1", LevelKind.JOINT, 5, "L5-S1"),
        ("L6-S1", LevelKind.JOINT, 6, "L6-S1"),
        ("L5-L6", LevelKind.JOINT, 6, "L5-L6"),
        ("l5", LevelKind.VERTEBRA, 5, "L5"),
        ("L6", LevelKind.VERTEBRA, 6, "L6"),
        ("L3-L5", LevelKind.ANY, 5, "L3-L5"),
        ("L5", LevelKind.ANY, 5, "L5"),
        ("L4-S1", LevelKind.ANY, 6, "L4-S1"),
    ],
)
def test_check_level_accepts(level, kind, lumbar, canonical):
    assert check_level(level, kind=kind, lumbar_vertebrae=lumbar) == canonical


@pytest.mark.parametrize(
    ("level", "kind", "lumbar", "words"),
    [
        ("L5", LevelKind.JOINT, 5, "is a vertebra"),
        ("L3-L5", LevelKind.JOINT, 5, "more than one joint"),
        ("L5-S1", LevelKind.JOINT, 6, "not adjacent"),
        ("L4-L5", LevelKind.VERTEBRA, 5, "not one vertebra"),
        ("L6", LevelKind.VERTEBRA, 5, "six lumbar vertebrae"),
        ("L5-L6", LevelKind.JOINT, 5, "six lumbar vertebrae"),
        ("L4-L6", LevelKind.ANY, 5, "six lumbar vertebrae"),
        ("L9", LevelKind.ANY, 6, "not a spinal level"),
    ],
)
def test_check_level_refuses_with_a_message(level, kind, lumbar, words):
    with pytest.raises(ValidationError) as refused:
        check_level(level, kind=kind, lumbar_vertebrae=lumbar)
    assert words in refused.value.messages[0]


def test_the_vocabulary_declares_each_codes_level_kind():
    """CLINICAL_RULES §3: joint findings, vertebra findings, the others any level."""
    joint = {"bridging", "vacuum_disc", "vacuum_facet", "vacuum_spacer_only",
             "spacer_posterior_distance_mm", "disc_herniation",
             "adjacent_segment_degeneration"}  # fmt: skip
    vertebra = {"screw_lucency_mm", "periscrew_margin", "screw_fracture", "screw_in_canal",
                "pars_fracture", "vertebral_fracture"}  # fmt: skip
    for code, definition in VOCABULARY.items():
        expected = (
            LevelKind.JOINT if code in joint
            else LevelKind.VERTEBRA if code in vertebra
            else LevelKind.ANY
        )  # fmt: skip
        assert definition.level_kind is expected, code
