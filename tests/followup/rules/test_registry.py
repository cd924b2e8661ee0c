"""Every findings rule is registered once, under its alert code, and has its test module."""

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from followup.models.alerts import FINDING_CODES
from followup.rules import RULES, quiet_without_findings, run_all

from .builders import context, discectomy, exam, fusion

HERE = Path(__file__).parent


def test_the_registry_holds_one_rule_per_finding_alert_code():
    names = [rule.__name__ for rule in RULES]
    assert len(names) == len(set(names))
    assert set(names) == {str(code) for code in FINDING_CODES}


def test_every_rule_has_its_test_module():
    missing = [r.__name__ for r in RULES if not (HERE / f"test_rule_{r.__name__}.py").exists()]
    assert missing == []


# The evaluation skips the contexts `quiet_without_findings` names (another surgery's view
# of an exam with nothing judged against it): no rule may raise anything there.
@settings(max_examples=300, deadline=None)
@given(
    modality=st.sampled_from(["XR", "CT", "MR", "NM", "PT", "RF", "US"]),
    contrast=st.sampled_from(["none", "gadolinium", "iodinated"]),
    day=st.integers(min_value=0, max_value=3000),
    dose=st.one_of(st.none(), st.decimals(min_value=0, max_value=500, places=1)),
    surgery=st.sampled_from([fusion(), fusion(("L3-L5",)), discectomy()]),
    neighbours=st.lists(st.tuples(st.integers(0, 3000), st.sampled_from(["XR", "CT", "MR"]))),
)
def test_no_rule_raises_from_another_surgery_with_no_finding_judged_against_it(
    modality, contrast, day, dose, surgery, neighbours
):
    this = exam(day, modality, contrast=contrast, dose=dose)
    around = [exam(d, m) for d, m in neighbours]
    ctx = context(
        this, surgery=surgery, own=False, fusions=(surgery,),
        earlier=[e for e in around if e.day < day], later=[e for e in around if e.day >= day],
        doses=[(d, 400) for d, _ in neighbours],
    )  # fmt: skip
    assert quiet_without_findings(ctx)
    assert run_all(ctx) == []
