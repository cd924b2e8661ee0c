"""screw_misplaced: a screw in the spinal canal (urgent).

[Guide, Fig. 2]: acute medullary syndrome, "the left D12 screw is in the spinal canal".
"""

from .builders import context, exam, raised, severities

CODE = "screw_misplaced"


def test_a_screw_in_the_canal_is_urgent():
    [alert] = raised(context(exam(1, "CT", [("screw_in_canal", True, "T12", "left")])), CODE)
    assert alert.severity == "urgent"
    assert alert.subject == "T12:left"


def test_a_screw_outside_the_canal_raises_nothing():
    ctx = context(exam(1, "CT", [("screw_in_canal", False, "T12", "left")]))
    assert severities(ctx, CODE) == []


def test_each_screw_is_a_subject():
    ctx = context(
        exam(
            1,
            "CT",
            [("screw_in_canal", True, "T12", "left"), ("screw_in_canal", True, "T12", "right")],
        )
    )
    assert {a.subject for a in raised(ctx, CODE)} == {"T12:left", "T12:right"}
