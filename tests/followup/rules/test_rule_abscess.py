"""abscess: fluid_collection = abscess (urgent).

[Guide, "Infection"]: "identifying an abscess is the cornerstone of the diagnosis"; seromas
and haematomas in the surgical bed are frequent and most need no treatment.
"""

import pytest

from .builders import context, exam, raised, severities

CODE = "abscess"


def collection(value, day=5):
    return context(exam(day, "MR", [("fluid_collection", value, "L4-L5", "midline")], "gadolinium"))


@pytest.mark.parametrize("day", [5, 400])
def test_an_abscess_is_urgent(day):
    assert severities(collection("abscess", day), CODE) == ["urgent"]


@pytest.mark.parametrize("value", ["none", "seroma", "haematoma", "pseudomeningocele"])
def test_other_collections_are_not_an_abscess(value):
    assert severities(collection(value), CODE) == []


def test_the_alert_is_about_the_site():
    [alert] = raised(collection("abscess"), CODE)
    assert alert.subject == "L4-L5:midline"
