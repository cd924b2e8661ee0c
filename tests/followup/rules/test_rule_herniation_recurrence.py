"""herniation_recurrence: disc_herniation = different_from_preop (high).

[Guide, "Back to basics"]: "If the current herniation has different features (e.g., larger,
ascending instead of descending, or vice-versa), it is obviously a recurrence".
"""

import pytest

from .builders import context, discectomy, exam, raised, severities

CODE = "herniation_recurrence"


def herniation(value, day):
    mr = exam(day, "MR", [("disc_herniation", value, "L4-L5", "left")])
    return context(mr, surgery=discectomy())


@pytest.mark.parametrize("day", [30, 182, 183, 730])
def test_a_different_herniation_is_a_recurrence_at_any_time(day):
    assert severities(herniation("different_from_preop", day), CODE) == ["high"]


@pytest.mark.parametrize("value", ["none", "similar_to_preop"])
@pytest.mark.parametrize("day", [30, 400])
def test_no_or_a_similar_herniation_is_not_a_recurrence_by_itself(value, day):
    assert severities(herniation(value, day), CODE) == []


def test_the_alert_is_about_the_site():
    [alert] = raised(herniation("different_from_preop", 300), CODE)
    assert alert.subject == "L4-L5:left"
