"""new_fracture: pars_fracture or vertebral_fracture (high).

[Guide, Fig. 12]: a bilateral pars fracture one year after a successful arthrodesis;
"vertebral fractures can occur ... in the vicinity of surgical hardware".
"""

import pytest

from .builders import context, exam, severities, subjects

CODE = "new_fracture"


@pytest.mark.parametrize("code", ["pars_fracture", "vertebral_fracture"])
def test_a_new_fracture_is_high(code):
    assert severities(context(exam(400, "CT", [(code, True, "L5", "bilateral")])), CODE) == ["high"]


@pytest.mark.parametrize("code", ["pars_fracture", "vertebral_fracture"])
def test_no_fracture_no_alert(code):
    assert severities(context(exam(400, "CT", [(code, False, "L5", "bilateral")])), CODE) == []


def test_a_pars_and_a_body_fracture_are_two_subjects():
    ctx = context(
        exam(400, "CT", [("pars_fracture", True, "L5", "left"), ("vertebral_fracture", True, "L5")])
    )
    assert len(subjects(ctx, CODE)) == 2
