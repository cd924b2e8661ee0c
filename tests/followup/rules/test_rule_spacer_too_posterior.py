"""spacer_too_posterior: spacer_posterior_distance_mm < 2 (warning).

[Guide]: "An interbody graft spacer is accurately positioned when the distance between the
radiopaque marker of its posterior margin and the posterior vertebral body corner is 2 mm
or greater".
"""

import pytest

from .builders import context, exam, limits, raised, severities

CODE = "spacer_too_posterior"


def distance(mm, day=3, level="L4-L5", **kwargs):
    return context(exam(day, "XR", [("spacer_posterior_distance_mm", mm, level)]), **kwargs)


@pytest.mark.parametrize(
    ("mm", "expected"),
    [(8, []), (2.0, []), (1.9, ["warning"]), (0, ["warning"]), (-1.5, ["warning"])],
)
def test_less_than_2_mm_is_too_posterior(mm, expected):
    assert severities(distance(mm), CODE) == expected


def test_on_a_later_film_too():
    assert severities(distance(1.5, day=730), CODE) == ["warning"]


def test_the_alert_is_about_the_level():
    [alert] = raised(distance(1, level="L5-S1"), CODE)
    assert alert.subject.startswith("L5-S1")


def test_the_distance_is_the_clinics():
    assert severities(distance(2.5, limits=limits(spacer_min_distance_mm=3)), CODE) == ["warning"]
    assert severities(distance(1.9, limits=limits(spacer_min_distance_mm=1.5)), CODE) == []
