"""The findings rules of CLINICAL_RULES §4: small pure functions and their registry.

Each rule takes a `Context` (one surgery, this exam with the findings judged against
that surgery, the patient's other exams, the surgery's baseline film, the day since
that surgery and its pinned thresholds) and yields the alerts it finds. Nothing here
touches the database: `followup/pipeline/evaluation.py` builds the contexts and stores what the
rules return. Adding a rule is adding one function with `@rule` (in the module of its
subject) and its test module.

The rules live by subject (`hardware`, `roots_and_collections`, `across_exams`) on the
base of `registry`; the pain recurrence pattern (`recurrence`), the contrast decision
(`contrast`) and the default protocols as data (`default_protocols`) beside them. The
whole package imports no Django (an import-linter contract).
"""

from .registry import (
    PATIENT_CODES,
    RULES,
    Context,
    ExamFacts,
    Fact,
    Limits,
    Raised,
    Severity,
    SurgeryFacts,
    quiet_without_findings,
    rule,
    run_all,
)  # fmt: skip

# The rules register themselves as they are imported, in this order: run_all's order.
# isort: off
from . import hardware, roots_and_collections, across_exams  # noqa: F401
# isort: on

__all__ = [
    "PATIENT_CODES", "RULES", "Context", "ExamFacts", "Fact", "Limits", "Raised", "Severity",
    "SurgeryFacts", "quiet_without_findings", "rule", "run_all",
]  # fmt: skip
