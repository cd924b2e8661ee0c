"""spacer_migration: the spacer's distance differs from the baseline film's at the same
level by more than the tolerance (2 mm, a default) (high).

[Guide]: reference post-operative X-rays "must be analysed and compared with current X-rays
to check whether the spacer is in the same position ... If not, the spacer has moved, which
means that the fusion has failed" (Fig. 11).
"""

import pytest

from .builders import context, exam, limits, raised, severities

CODE = "spacer_migration"


def spacer(mm, level="L4-L5"):
    return ("spacer_posterior_distance_mm", mm, level)


BASELINE = exam(3, "XR", [spacer(5.0)])


def now(mm, level="L4-L5", baseline=BASELINE, **kwargs):
    return context(exam(730, "XR", [spacer(mm, level)]), baseline=baseline, **kwargs)


@pytest.mark.parametrize(
    ("mm", "expected"),
    [
        (5.0, []),
        (3.0, []),  # exactly 2 mm: within the tolerance
        (2.9, ["high"]),  # 2.1 mm posterior
        (1.0, ["high"]),
        (7.0, []),
        (7.1, ["high"]),  # 2.1 mm anterior: it moved too
    ],
)
def test_more_than_2_mm_from_the_baseline_is_migration(mm, expected):
    assert severities(now(mm), CODE) == expected


def test_a_different_level_is_not_compared():
    assert severities(now(1.0, level="L5-S1"), CODE) == []


def test_each_level_is_compared_with_its_own_baseline():
    baseline = exam(3, "XR", [spacer(5.0, "L4-L5"), spacer(1.0, "L5-S1")])
    current = exam(730, "XR", [spacer(5.0, "L4-L5"), spacer(4.0, "L5-S1")])
    [alert] = raised(context(current, baseline=baseline), CODE)
    assert alert.subject.startswith("L5-S1")


def test_no_baseline_no_migration():
    assert severities(now(1.0, baseline=None), CODE) == []


def test_the_baseline_film_does_not_migrate_from_itself():
    assert severities(context(BASELINE, baseline=BASELINE), CODE) == []


def test_compared_with_the_baseline_not_with_the_previous_film():
    six_months = exam(180, "XR", [spacer(3.5)])
    ctx = context(exam(730, "XR", [spacer(2.5)]), earlier=[six_months], baseline=BASELINE)
    assert severities(ctx, CODE) == ["high"]

    drifted = exam(180, "XR", [spacer(8.0)])
    ctx = context(exam(730, "XR", [spacer(5.5)]), earlier=[drifted], baseline=BASELINE)
    assert severities(ctx, CODE) == []


def test_the_tolerance_is_the_clinics():
    assert severities(now(3.5, limits=limits(spacer_migration_mm=1)), CODE) == ["high"]
    assert severities(now(2.5, limits=limits(spacer_migration_mm=3)), CODE) == []
