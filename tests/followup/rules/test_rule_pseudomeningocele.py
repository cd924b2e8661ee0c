"""pseudomeningocele: fluid_collection = pseudomeningocele (warning).

[Guide, "Headache"]: a fluid collection in close contact with the thecal sac, resembling
cerebrospinal fluid; Fig. 3 f-i.
"""

import pytest

from .builders import context, exam, raised, severities

CODE = "pseudomeningocele"


def collection(value):
    return context(exam(10, "MR", [("fluid_collection", value, "L5-S1", "midline")]))


def test_a_pseudomeningocele_is_a_warning():
    [alert] = raised(collection("pseudomeningocele"), CODE)
    assert alert.severity == "warning"
    assert alert.subject == "L5-S1:midline"


@pytest.mark.parametrize("value", ["none", "seroma", "haematoma", "abscess"])
def test_other_collections_are_not_a_pseudomeningocele(value):
    assert severities(collection(value), CODE) == []
