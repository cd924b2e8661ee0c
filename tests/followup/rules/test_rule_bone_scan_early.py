"""bone_scan_early: bone-scan uptake at t < 365 (info): healing uptake persists 6-12 months.

[Guide]: "radiotracer uptake related to bone healing and remodelling can persist up to
6-12 months after surgery".
"""

import pytest

from .builders import context, exam, limits, raised, severities

CODE = "bone_scan_early"


def uptake(day, present=True, **kwargs):
    return context(exam(day, "NM", [("bone_scan_uptake", present, "L4-L5")]), **kwargs)


@pytest.mark.parametrize(
    ("day", "expected"), [(60, ["info"]), (364, ["info"]), (365, []), (500, [])]
)
def test_uptake_in_the_first_year_is_not_evidence(day, expected):
    assert severities(uptake(day), CODE) == expected


def test_no_uptake_no_alert():
    assert severities(uptake(200, present=False), CODE) == []


def test_it_is_information_only():
    assert {a.severity for a in raised(uptake(200), CODE)} == {"info"}
    assert raised(uptake(200), "pseudarthrosis_suspected") == []


def test_the_year_is_the_clinics():
    assert severities(uptake(299, limits=limits(fusion_expected_days=300)), CODE) == ["info"]
    assert severities(uptake(300, limits=limits(fusion_expected_days=300)), CODE) == []
