"""adjacent_segment: adjacent_segment_degeneration (warning).

[Guide, "Adjacent segment syndrome"]: disc, facet or stenosis change next to a fused level.
"""

from .builders import context, exam, raised, severities

CODE = "adjacent_segment"


def test_adjacent_degeneration_is_a_warning():
    ctx = context(exam(700, "MR", [("adjacent_segment_degeneration", True, "L3-L4")]))
    [alert] = raised(ctx, CODE)
    assert alert.severity == "warning"
    assert alert.subject.startswith("L3-L4")


def test_no_degeneration_no_alert():
    ctx = context(exam(700, "MR", [("adjacent_segment_degeneration", False, "L3-L4")]))
    assert severities(ctx, CODE) == []
