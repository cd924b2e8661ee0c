"""Concise builders for the pure findings rules (followup.rules).

Days are days since the surgery (`t` of CLINICAL_RULES §4); every exam is performed at
SURGERY_AT + day days. Findings are written as tuples `(code, value, level, side)`,
level and side optional, and are checked against the §3 vocabulary so that a typo in
a test (`"ill-defined"`) fails loudly instead of silently raising nothing.
"""

import dataclasses
import itertools
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from followup.rules import Context, ExamFacts, Fact, Limits, Raised, SurgeryFacts, run_all
from imaging.vocabulary import VOCABULARY
from patients.levels import joints_of, validate_level, vertebrae_of

SURGERY_AT = datetime(2024, 3, 4, 8, 30, tzinfo=UTC)
BRIDGING_OPENS_DAY = 90  # CLINICAL_RULES §2: before it a film can only be the baseline

_exam_ids = itertools.count(1)

Finding = tuple | Fact


def at_day(day: int) -> datetime:
    return SURGERY_AT + timedelta(days=day)


def fact(code: str, value: object, level: str = "", side: str = "") -> Fact:
    if code not in VOCABULARY:
        raise ValueError(f"unknown finding code {code!r}")
    if level:
        validate_level(level)
    if side not in ("", "left", "right", "bilateral", "midline"):
        raise ValueError(f"bad side {side!r}")
    return Fact(code, VOCABULARY[code].clean(value), level, side)


def exam(
    day: int,
    modality: str = "XR",
    findings: Iterable[Finding] = (),
    contrast: str = "none",
    dose: float | str | Decimal | None = None,
    id: int | None = None,
) -> ExamFacts:
    return ExamFacts(
        id=next(_exam_ids) if id is None else id,
        modality=modality,
        performed_at=at_day(day),
        day=day,
        contrast=contrast,
        dose_msv=None if dose is None else Decimal(str(dose)),
        findings=tuple(f if isinstance(f, Fact) else fact(*f) for f in findings),
    )


def _surgery(id: int, procedure, family, levels, hardware) -> SurgeryFacts:
    for level in levels:
        validate_level(level)
    joints = [joint for span in levels for joint in joints_of(span)]
    vertebrae = [vertebra for span in levels for vertebra in vertebrae_of(span)]
    return SurgeryFacts(
        id, procedure, family, tuple(levels), tuple(hardware), tuple(joints), tuple(vertebrae)
    )


def fusion(
    levels: Sequence[str] = ("L4-L5",),
    procedure: str = "tlif",
    hardware: Sequence[str] = ("pedicle_screws", "rods", "interbody_cage"),
    id: int = 1,
) -> SurgeryFacts:
    return _surgery(id, procedure, "fusion", levels, hardware)


def discectomy(levels: Sequence[str] = ("L4-L5",), procedure: str = "discectomy") -> SurgeryFacts:
    return _surgery(2, procedure, "disc_surgery", levels, ())


def limits(**changes: object) -> Limits:
    """The default Limits with some thresholds changed, as a clinic would in the admin."""
    defaults = Limits()
    typed = {
        name: Decimal(str(value)) if isinstance(getattr(defaults, name), Decimal) else value
        for name, value in changes.items()
    }
    return dataclasses.replace(defaults, **typed)


def context(
    this: ExamFacts,
    earlier: Sequence[ExamFacts] = (),
    baseline: ExamFacts | None = None,
    limits: Limits | None = None,
    surgery: SurgeryFacts | None = None,
    later: Sequence[ExamFacts] = (),
    doses: Iterable[tuple[int, float | str]] = (),
    baseline_due_day: int | None = None,
    own: bool = True,
    fusions: Sequence[SurgeryFacts] = (),
) -> Context:
    """The context of `this` exam.

    The baseline film (the one that satisfied `baseline_film`) is one of the surgery's
    exams: it is added to `earlier` when it comes before `this`. `baseline_due_day`: the
    baseline is missing (neither satisfied nor waived) and was due at the start of that
    day. The patient's doses are those of the exams given plus `doses`, (day, mSv) pairs
    of exams this context does not otherwise know (another surgery, another site).
    """
    earlier = tuple(earlier)
    if baseline is not None and baseline.id != this.id and baseline not in earlier:
        earlier = tuple(sorted((baseline, *earlier), key=lambda e: e.performed_at))
    known = {e.id: e for e in (*earlier, this, *later)}
    patient_doses = [(e.performed_at, e.dose_msv) for e in known.values() if e.dose_msv]
    patient_doses += [(at_day(day), Decimal(str(msv))) for day, msv in doses]
    return Context(
        surgery=surgery or fusion(),
        exam=this,
        earlier=earlier,
        baseline=baseline,
        limits=limits or Limits(),
        patient_doses=tuple(sorted(patient_doses)),
        later=tuple(later),
        own=own,
        baseline_due=None if baseline_due_day is None else at_day(baseline_due_day),
        fusions=tuple(fusions),
    )


def raised(ctx: Context, code: str) -> list[Raised]:
    """What run_all raises with this alert code (through the registry, like the app)."""
    return [alert for alert in run_all(ctx) if alert.code == code]


def severities(ctx: Context, code: str) -> list[str]:
    return [str(alert.severity) for alert in raised(ctx, code)]


def subjects(ctx: Context, code: str) -> set[str]:
    return {alert.subject for alert in raised(ctx, code)}


def baseline_of(exams: Sequence[ExamFacts]) -> ExamFacts | None:
    """The film that satisfied baseline_film (CLINICAL_RULES §2), if any.

    A radiograph in the baseline window; a late one still satisfies it while no later
    window contains it, which for the default fusion protocol is up to day 89.
    """
    return next((e for e in exams if e.modality == "XR" and e.day < BRIDGING_OPENS_DAY), None)


def timeline(
    surgery: SurgeryFacts, exams: Sequence[ExamFacts], limits: Limits | None = None
) -> list[tuple[ExamFacts, list[Raised]]]:
    """Evaluate each exam as it is recorded: it sees the exams before it and the baseline."""
    ordered = sorted(exams, key=lambda e: e.performed_at)
    results = []
    for index, this in enumerate(ordered):
        baseline = baseline_of(ordered[: index + 1])
        ctx = context(
            this, earlier=ordered[:index], baseline=baseline, limits=limits, surgery=surgery
        )
        results.append((this, run_all(ctx)))
    return results
