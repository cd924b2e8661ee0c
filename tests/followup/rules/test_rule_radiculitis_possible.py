"""radiculitis_possible: root enhancement at t >= 183 (warning); before it, no alert.

[Guide, "Radiculitis"]: root enhancement "must be interpreted cautiously in the 6 months
after surgery, as root enhancement can be seen in asymptomatic patients".
"""

import dataclasses
from datetime import timedelta

import pytest

from .builders import at_day, context, discectomy, exam, limits, severities

CODE = "radiculitis_possible"


def enhancement(day, present=True, **kwargs):
    mr = exam(day, "MR", [("root_enhancement", present, "L5", "bilateral")], "gadolinium")
    return context(mr, surgery=discectomy(), **kwargs)


@pytest.mark.parametrize(
    ("day", "expected"), [(30, []), (182, []), (183, ["warning"]), (500, ["warning"])]
)
def test_root_enhancement_after_six_months(day, expected):
    assert severities(enhancement(day), CODE) == expected


def test_no_enhancement_no_alert():
    assert severities(enhancement(300, present=False), CODE) == []


def test_t_is_the_exams_day_on_the_clinic_calendar():
    # Day 183 in the clinic's time zone, not yet 183 x 24 h after the surgery in UTC.
    mr = exam(183, "MR", [("root_enhancement", True, "L5", "left")], "gadolinium")
    mr = dataclasses.replace(mr, performed_at=at_day(182) + timedelta(hours=20))
    assert severities(context(mr, surgery=discectomy()), CODE) == ["warning"]


def test_the_end_of_early_changes_is_the_clinics():
    assert severities(enhancement(100, limits=limits(early_changes_days=90)), CODE) == ["warning"]
    assert severities(enhancement(200, limits=limits(early_changes_days=270)), CODE) == []
