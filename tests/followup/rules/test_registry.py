"""Every findings rule is registered once, under its alert code, and has its test module."""

from pathlib import Path

from followup.models.alerts import FINDING_CODES
from followup.rules import RULES

HERE = Path(__file__).parent


def test_the_registry_holds_one_rule_per_finding_alert_code():
    names = [rule.__name__ for rule in RULES]
    assert len(names) == len(set(names))
    assert set(names) == {str(code) for code in FINDING_CODES}


def test_every_rule_has_its_test_module():
    missing = [r.__name__ for r in RULES if not (HERE / f"test_rule_{r.__name__}.py").exists()]
    assert missing == []
