"""baseline_missing: a later fusion film with no baseline film to compare it with (warning).

[Guide, "Expected findings in successful fusion"]: an early radiograph is the reference
for every later comparison. CLINICAL_RULES §4: the baseline window has closed with no
baseline film (not waived), and a later fusion film is recorded that has nothing to be
compared with. The evaluation says the baseline is missing (`baseline_due`) only while
the `baseline_film` checkpoint is neither satisfied nor waived.
"""

from .builders import context, discectomy, exam, severities

CODE = "baseline_missing"
DUE = 43  # the baseline window (day 0 to 42) closes at the start of day 43


def test_a_film_after_the_window_closed_with_no_baseline_raises_a_warning():
    assert severities(context(exam(180, "XR"), baseline_due_day=DUE), CODE) == ["warning"]


def test_a_later_ct_is_a_fusion_film_too():
    assert severities(context(exam(365, "CT"), baseline_due_day=DUE), CODE) == ["warning"]


def test_a_later_film_with_its_baseline_raises_nothing():
    baseline = exam(3, "XR")
    assert severities(context(exam(180, "XR"), baseline=baseline), CODE) == []


def test_the_baseline_film_itself_raises_nothing():
    baseline = exam(3, "XR")
    assert severities(context(baseline, baseline=baseline), CODE) == []


def test_an_early_ct_while_the_window_is_open_raises_nothing():
    # The CT cannot be the baseline (XR only), but the window is still open.
    assert severities(context(exam(5, "CT"), baseline_due_day=DUE), CODE) == []


def test_a_waived_or_satisfied_baseline_is_not_missing():
    # The evaluation passes no due time then.
    assert severities(context(exam(180, "XR"), baseline_due_day=None), CODE) == []


def test_an_mr_is_not_a_fusion_film():
    assert severities(context(exam(180, "MR"), baseline_due_day=DUE), CODE) == []


def test_disc_surgery_has_no_baseline_film():
    ctx = context(exam(180, "XR"), baseline_due_day=DUE, surgery=discectomy())
    assert severities(ctx, CODE) == []
