"""cumulative_dose: the patient's effective dose over the last 12 months exceeds the clinic's
threshold (20 mSv, a default) (info).

Seed 001: the risk "rise[s] if you need to have a number of radiographs over a long period".
"""

import pytest

from .builders import context, exam, limits, severities

CODE = "cumulative_dose"


@pytest.mark.parametrize(("earlier_msv", "expected"), [(10, []), (10.1, ["info"])])
def test_over_20_msv_in_the_last_year(earlier_msv, expected):
    earlier = exam(100, "CT", dose=earlier_msv)
    ctx = context(exam(400, "CT", dose=10), earlier=[earlier])
    assert severities(ctx, CODE) == expected


def test_a_dose_outside_the_year_is_not_counted():
    outside = exam(34, "CT", dose=15)  # 366 days before
    assert severities(context(exam(400, "CT", dose=10), earlier=[outside]), CODE) == []
    inside = exam(36, "CT", dose=15)  # 364 days before
    assert severities(context(exam(400, "CT", dose=10), earlier=[inside]), CODE) == ["info"]


def test_a_later_exam_is_not_counted_for_this_one():
    later = exam(200, "CT", dose=20)
    assert severities(context(exam(100, "CT", dose=5), later=[later]), CODE) == []


def test_the_dose_is_the_patients_across_surgeries():
    # 15 mSv at another surgery, 100 days before this one.
    ctx = context(exam(30, "CT", dose=6), doses=[(-100, 15)])
    assert severities(ctx, CODE) == ["info"]


def test_an_exam_without_dose_still_sees_the_year():
    earlier = exam(100, "CT", dose=25)
    assert severities(context(exam(150, "MR"), earlier=[earlier]), CODE) == ["info"]


def test_the_threshold_and_the_window_are_the_clinics():
    lower = limits(cumulative_dose_msv=10)
    assert severities(context(exam(10, "CT", dose=12), limits=lower), CODE) == ["info"]

    month = limits(dose_window_days=30)
    earlier = exam(100, "CT", dose=15)  # 40 days before: outside a 30-day window
    ctx = context(exam(140, "CT", dose=10), earlier=[earlier], limits=month)
    assert severities(ctx, CODE) == []
