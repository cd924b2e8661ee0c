"""baseline_missing: a later fusion film with no baseline film to compare it with (warning).

[Guide, "Expected findings in successful fusion"]: an early radiograph is the reference
for every later comparison; CLINICAL_RULES §2: a film at day 180 is the bridging film and
the baseline stays missing.
"""

from .builders import context, discectomy, exam, severities

CODE = "baseline_missing"


def test_a_later_film_without_any_baseline_raises_a_warning():
    film = exam(180, "XR")
    assert severities(context(film, baseline=None), CODE) == ["warning"]


def test_a_later_ct_is_a_fusion_film_too():
    ct = exam(365, "CT")
    assert severities(context(ct, baseline=None), CODE) == ["warning"]


def test_a_later_film_with_its_baseline_raises_nothing():
    baseline = exam(3, "XR")
    assert severities(context(exam(180, "XR"), baseline=baseline), CODE) == []


def test_the_baseline_film_itself_raises_nothing():
    baseline = exam(3, "XR")
    assert severities(context(baseline, baseline=baseline), CODE) == []


def test_a_first_film_at_day_180_is_not_a_baseline():
    # It is the earliest film, so it is its own reference, but it did not satisfy the
    # baseline checkpoint: there is nothing early to compare it with.
    film = exam(180, "XR")
    ctx = context(film, baseline=film, baseline_is_checkpoint=False)
    assert severities(ctx, CODE) == ["warning"]


def test_a_late_first_film_is_the_reference_for_the_films_after_it():
    # Issue [3/9]: "Comparisons use the exam that satisfied baseline_film, or else the
    # earliest post-operative film, and baseline_missing when there is nothing to compare
    # with". The day-180 film had nothing before it; the one-year film has it.
    bridging = exam(180, "XR")
    ctx = context(exam(365, "CT"), baseline=bridging, baseline_is_checkpoint=False)
    assert severities(ctx, CODE) == []
    assert severities(context(bridging, baseline=bridging, baseline_is_checkpoint=False), CODE) == [
        "warning"
    ]


def test_an_mr_is_not_a_fusion_film():
    assert severities(context(exam(180, "MR"), baseline=None), CODE) == []


def test_disc_surgery_has_no_baseline_film():
    ctx = context(exam(180, "XR"), baseline=None, surgery=discectomy())
    assert severities(ctx, CODE) == []
