"""periscrew_infection: resorption around a screw with ill-defined margins (urgent).

[Guide]: "wider, irregular bone resorption with ill-defined margins is highly suggestive
of infection" (Fig. 5: osteolysis around the L3 screws with no sclerotic rim).
"""

import pytest

from .builders import context, exam, raised, severities, subjects

CODE = "periscrew_infection"


def margin(value, level="L3", side="left", day=180, mm=4):
    findings = [("screw_lucency_mm", mm, level, side), ("periscrew_margin", value, level, side)]
    return context(exam(day, "CT", findings))


@pytest.mark.parametrize("day", [20, 180, 400])
def test_ill_defined_margins_are_urgent_at_any_time(day):
    assert severities(margin("ill_defined", day=day), CODE) == ["urgent"]


def test_a_sclerotic_rim_is_not_infection():
    assert severities(margin("sclerotic_rim"), CODE) == []


def test_narrow_but_ill_defined_resorption_is_still_urgent():
    assert severities(margin("ill_defined", mm=1.5), CODE) == ["urgent"]


def test_the_alert_is_about_the_screw():
    [alert] = raised(margin("ill_defined", "L3", "right"), CODE)
    assert alert.subject == "L3:right"


def test_only_the_screw_with_ill_defined_margins():
    ctx = context(
        exam(
            180,
            "CT",
            [
                ("periscrew_margin", "ill_defined", "L3", "left"),
                ("periscrew_margin", "ill_defined", "L3", "right"),
                ("periscrew_margin", "sclerotic_rim", "L4", "left"),
            ],
        )
    )
    assert subjects(ctx, CODE) == {"L3:left", "L3:right"}
