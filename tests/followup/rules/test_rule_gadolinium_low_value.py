"""gadolinium_low_value: a gadolinium MR at t > 183 (info).

[Guide]: gadolinium "is generally not useful more than 6 months after surgery, as mature
scar is not expected to enhance"; contrast is not systematic "due to safety, environmental
and economic concerns".
"""

import pytest

from .builders import context, discectomy, exam, limits, severities

CODE = "gadolinium_low_value"


def mr(day, contrast="gadolinium", modality="MR", **kwargs):
    return context(exam(day, modality, [], contrast), surgery=discectomy(), **kwargs)


@pytest.mark.parametrize(
    ("day", "expected"), [(30, []), (183, []), (184, ["info"]), (700, ["info"])]
)
def test_gadolinium_after_six_months(day, expected):
    assert severities(mr(day), CODE) == expected


def test_an_mr_without_contrast_raises_nothing():
    assert severities(mr(400, contrast="none"), CODE) == []


def test_iodinated_ct_is_not_gadolinium():
    assert severities(mr(400, contrast="iodinated", modality="CT"), CODE) == []


def test_the_cutoff_is_the_clinics():
    assert severities(mr(91, limits=limits(gadolinium_cutoff_days=90)), CODE) == ["info"]
    assert severities(mr(200, limits=limits(gadolinium_cutoff_days=270)), CODE) == []
