"""pseudarthrosis_suspected: t >= 365 and bridging none or partial (high).

[Guide, "Semiology of pseudarthrosis"]: "lack of continuous bridging of trabecular bone in
the expected time setting (1 year). That is to say, no bone bridge, or incomplete bridge".
"""

import pytest

from .builders import context, exam, limits, raised, severities

CODE = "pseudarthrosis_suspected"


def bridging(value, day, **kwargs):
    return context(exam(day, "CT", [("bridging", value, "L4-L5")]), **kwargs)


@pytest.mark.parametrize("value", ["none", "partial"])
@pytest.mark.parametrize(
    ("day", "expected"), [(300, []), (364, []), (365, ["high"]), (900, ["high"])]
)
def test_no_continuous_bridge_at_one_year(value, day, expected):
    assert severities(bridging(value, day), CODE) == expected


def test_a_complete_bridge_is_fusion():
    assert severities(bridging("complete", 400), CODE) == []


def test_the_alert_is_about_the_level():
    [alert] = raised(bridging("partial", 365), CODE)
    assert alert.subject.startswith("L4-L5")


def test_the_day_is_the_clinics():
    later = limits(fusion_expected_days=400)
    assert severities(bridging("partial", 365, limits=later), CODE) == []
    assert severities(bridging("partial", 400, limits=later), CODE) == ["high"]
    earlier = limits(fusion_expected_days=300)
    assert severities(bridging("none", 300, limits=earlier), CODE) == ["high"]


def test_bridging_is_not_judged_on_an_mr():
    # [Guide]: "MRI is not a good choice to assess bone fusion".
    ctx = context(exam(400, "MR", [("bridging", "partial", "L4-L5")]))
    assert severities(ctx, CODE) == []
