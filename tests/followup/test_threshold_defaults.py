"""One place for each default number: the rules' (`Limits`, `RecurrenceLimits`). The
Thresholds model's field defaults are read from them, and the shared version the
migrations seeded holds the same numbers."""

from dataclasses import fields

import pytest

from followup.models import Thresholds
from followup.rules import Limits
from followup.rules.recurrence import RecurrenceLimits

# The day limits that come from the protocol's milestones, not from the thresholds.
MILESTONE_DAYS = {"early_changes_days", "gadolinium_cutoff_days"}


def rules_defaults() -> dict[str, object]:
    numbers = {f.name: f.default for f in fields(Limits) if f.name not in MILESTONE_DAYS}
    return numbers | {f.name: f.default for f in fields(RecurrenceLimits)}


def test_every_threshold_default_is_the_rules_own():
    model = {f.name: f.default for f in Thresholds._meta.concrete_fields}
    assert {name: model[name] for name in rules_defaults()} == rules_defaults()


@pytest.mark.django_db
def test_the_seeded_shared_version_holds_the_rules_defaults():
    seeded = Thresholds.objects.get(clinic__isnull=True, version=1)
    assert {name: getattr(seeded, name) for name in rules_defaults()} == rules_defaults()
