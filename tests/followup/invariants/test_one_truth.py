"""One truth for a patient, over random histories (Hypothesis).

The checkpoints, matches and open alerts of a patient are a function of the patient's
current records and the clock, whatever the order in which the records arrived, were
corrected or deleted, and whatever the entry path. For each random history:

(a) the final checkpoints and open alerts equal those of the same final records
    entered once, in time order, on a second patient of the clinic;
(b) every open alert has a live cause and every live cause exactly one open alert
    (checked after every refresh of the history, and at the end for both patients);
(c) a baseline is only ever an early film (CLINICAL_RULES §2).

`test_one_truth` runs a few examples in the normal suite; `test_one_truth_long` runs
thousands under `-m invariants_long` (a step of its own in `make test` and CI;
INVARIANTS_EXAMPLES changes the count). On the 2-core dev machine: 20 examples ~30-40 s;
2,000 in 12 min 41 s (measured in .ci/run on a fresh clone, 2026-12-02); see
docs/reliability.md ("Invariants over random histories").

A failure prints the shrunk history as the log of what was written, by which path,
at which clock, before the assertion that failed.
"""

import os
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from hypothesis import HealthCheck, example, given, settings

from patients.models import Clinic, Membership, Role

from . import harness
from . import history as h
from .history import histories

COMMON = {
    "deadline": None,
    "database": None,  # no .hypothesis/ directory in the work tree; print_blob replays
    "print_blob": True,
    # One database transaction per test function: each example rolls back its own
    # savepoint (see `one_example`), so the function-scoped `db` fixture is safe.
    "suppress_health_check": [
        HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large,
    ],
}  # fmt: skip
SMALL = settings(max_examples=20, **COMMON)
LONG = settings(max_examples=int(os.environ.get("INVARIANTS_EXAMPLES", "2000")), **COMMON)


class _Rollback(Exception):
    pass


def one_example(history) -> None:
    """A fresh clinic, staff member and patient pair, rolled back after the example."""
    try:
        with transaction.atomic():
            _check(history)
            raise _Rollback
    except _Rollback:
        pass


def _check(history) -> None:
    clinic = Clinic.objects.create(slug="invariants", name="Invariants", timezone="Europe/Paris")
    user = get_user_model().objects.create_user(username="invariants", is_staff=True)
    Membership.objects.create(user=user, clinic=clinic, role=Role.CLINICIAN)

    story = harness.Runner(clinic, user, "H")
    story.play(history)
    harness.check_live_causes(story.patient, story.clock)
    harness.check_baselines(story.patient)

    reference = harness.enter_once(story, clinic, user)
    harness.check_live_causes(reference.patient, reference.clock)
    harness.check_baselines(reference.patient)
    harness.assert_same(
        "checkpoints",
        harness.checkpoints_of(story.patient, "H"),
        harness.checkpoints_of(reference.patient, "R"),
    )
    harness.assert_same(
        "open alerts",
        harness.active_alerts_of(story.patient, "H"),
        harness.active_alerts_of(reference.patient, "R"),
    )


# Found by the long run (shrunk by hand from Hypothesis' output): a fusion whose baseline
# window closed without a film, a CT at day 60 (baseline_missing), then the baseline is
# waived. The waiver does not mark the surgery stale, so baseline_missing stays open
# although its cause ("not waived", CLINICAL_RULES §4) is gone.
WAIVED_AFTER_BASELINE_MISSING = h.History(
    surgeries=(h.SurgerySpec(day=0, hour=8, procedure="tlif", levels=("L4-L5",)),),
    steps=(
        h.AddSurgery(n=0),
        h.AddExam(surgery=0, day=60, hour=9, modality="CT", wait=timedelta(days=60)),
        h.Waive(surgery=0, code="baseline_film"),
    ),
)


@pytest.mark.django_db
@SMALL
@given(history=histories(max_steps=10))
@example(history=WAIVED_AFTER_BASELINE_MISSING)
def test_one_truth(history):
    one_example(history)


@pytest.mark.invariants_long
@pytest.mark.django_db
@LONG
@given(history=histories(max_steps=20))
def test_one_truth_long(history):
    one_example(history)
