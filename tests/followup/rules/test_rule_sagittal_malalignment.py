"""sagittal_malalignment: pelvic incidence minus lumbar lordosis > 10 degrees (warning).

[Guide, "Spine misalignment"] names the parameters; the 10 degrees is the SRS-Schwab
modifier (not from the seeds), so each clinic must be able to change it.
"""

import pytest

from .builders import context, exam, limits, severities

CODE = "sagittal_malalignment"


def full_spine(incidence, lordosis, **kwargs):
    findings = [("pelvic_incidence_deg", incidence), ("lumbar_lordosis_deg", lordosis)]
    return context(exam(365, "XR", findings), **kwargs)


@pytest.mark.parametrize(
    ("lordosis", "expected"), [(55, []), (50, []), (49.9, ["warning"]), (30, ["warning"])]
)
def test_mismatch_over_10_degrees(lordosis, expected):
    assert severities(full_spine(60, lordosis), CODE) == expected


def test_lordosis_above_incidence_is_not_this_rule():
    assert severities(full_spine(40, 60), CODE) == []


def test_one_parameter_alone_says_nothing():
    assert severities(context(exam(365, "XR", [("pelvic_incidence_deg", 70)])), CODE) == []
    assert severities(context(exam(365, "XR", [("lumbar_lordosis_deg", 20)])), CODE) == []


def test_the_threshold_is_the_clinics():
    stricter = limits(pi_ll_mismatch_deg=5)
    assert severities(full_spine(60, 54, limits=stricter), CODE) == ["warning"]
    looser = limits(pi_ll_mismatch_deg=15)
    assert severities(full_spine(60, 48, limits=looser), CODE) == []
    assert severities(full_spine(60, 44.9, limits=looser), CODE) == ["warning"]
