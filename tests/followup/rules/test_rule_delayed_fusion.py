"""delayed_fusion: t > 270 and no bridging (warning).

[Guide]: "Bridging trabecular bone appears on radiographs between 3 months and 9 months
after surgery".
"""

import pytest

from .builders import context, exam, limits, raised, severities

CODE = "delayed_fusion"


def bridging(value, day, **kwargs):
    return context(exam(day, "XR", [("bridging", value, "L4-L5")]), **kwargs)


@pytest.mark.parametrize(
    ("day", "expected"), [(90, []), (270, []), (271, ["warning"]), (400, ["warning"])]
)
def test_no_bridging_after_day_270(day, expected):
    assert severities(bridging("none", day), CODE) == expected


@pytest.mark.parametrize("value", ["partial", "complete"])
def test_some_bridging_is_not_delayed(value):
    assert severities(bridging(value, 271), CODE) == []


def test_the_alert_is_about_the_level():
    [alert] = raised(bridging("none", 300), CODE)
    assert alert.subject.startswith("L4-L5")


def test_the_day_is_the_clinics():
    assert severities(bridging("none", 200, limits=limits(delayed_fusion_days=200)), CODE) == []
    assert severities(bridging("none", 201, limits=limits(delayed_fusion_days=200)), CODE) == [
        "warning"
    ]
    assert severities(bridging("none", 300, limits=limits(delayed_fusion_days=300)), CODE) == []


def test_bridging_is_not_judged_on_an_mr():
    # [Guide]: "MRI is not a good choice to assess bone fusion".
    ctx = context(exam(300, "MR", [("bridging", "none", "L4-L5")]))
    assert severities(ctx, CODE) == []
