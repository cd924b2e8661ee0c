"""Random patient histories, as plain data: what happens, in which order, by which path.

A history is a list of steps. Steps name the records they act on by small integers
(`surgery=1`: the patient's second surgery so far, modulo how many there are), so that
Hypothesis can shrink them freely; a step that names nothing (no surgery yet, no exam
to correct) is skipped by the executor, and says so in the log.

Levels are canonical here (`L4-L5`); `spelling` says how the API path spells them
(`L4-L5`, `l4-l5`, `L4/L5`, `L4-5`), CLINICAL_RULES §3.
"""

from dataclasses import dataclass, field
from datetime import timedelta

from hypothesis import strategies as st

PROCEDURES = (
    "tlif", "posterolateral_fusion", "plif", "discectomy", "decompression", "vertebroplasty",
)  # fmt: skip
SURGERY_LEVELS = (("L4-L5",), ("L5-S1",), ("L3-L4", "L4-L5"), ("L4-L5", "L5-S1"), ())
JOINTS = ("L3-L4", "L4-L5", "L5-S1")
VERTEBRAE = ("L4", "L5", "S1")

# The codes of CLINICAL_RULES §3 with values that cross the thresholds of §4 both ways.
JOINT_FINDINGS = {
    "bridging": ("none", "partial", "complete"),
    "vacuum_disc": (True, False),
    "vacuum_facet": (True, False),
    "vacuum_spacer_only": (True, False),
    "spacer_posterior_distance_mm": (1.0, 3.0, 4.0, 6.5),
    "disc_herniation": ("none", "similar_to_preop", "different_from_preop"),
    "adjacent_segment_degeneration": (True, False),
}
VERTEBRA_FINDINGS = {
    "screw_lucency_mm": (1.0, 2.0, 3.5),
    "periscrew_margin": ("sclerotic_rim", "ill_defined"),
    "screw_fracture": (True, False),
    "screw_in_canal": (True, False),
    "pars_fracture": (True, False),
    "vertebral_fracture": (True,),
}
SITELESS_FINDINGS = {
    "rod_fracture": (True, False),
    "fluid_collection": ("none", "seroma", "abscess", "pseudomeningocele"),
    "root_enhancement": (True, False),
    "bone_scan_uptake": (True, False),
    "pelvic_incidence_deg": (45.0, 62.0),
    "lumbar_lordosis_deg": (30.0, 55.0),
}
MODALITIES = ("XR", "CT", "MR", "NM", "PT", "RF", "US")
EVENT_CODES = (
    "cauda_equina", "medullary_syndrome", "blood_loss", "new_radicular_pain", "infection_signs",
    "positional_headache", "pain_recurrence", "recurrent_radicular_pain", "no_improvement",
)  # fmt: skip
EXAM_CHECKPOINTS = ("baseline_film", "bridging_film", "fusion_assessment")
# Days since surgery around the edges of the windows of §2 and the thresholds of §4.
EDGE_DAYS = (0, 1, 30, 41, 42, 43, 60, 89, 90, 150, 183, 184, 269, 270, 271, 300, 334, 335,
             364, 365, 366, 425, 426, 430, 500)  # fmt: skip
WAITS = (timedelta(0), timedelta(hours=5), timedelta(days=2), timedelta(days=20),
         timedelta(days=90), timedelta(days=400))  # fmt: skip

VIA = st.sampled_from(("orm", "api"))
SELECTOR = st.integers(0, 5)
DAYS = st.one_of(st.sampled_from(EDGE_DAYS), st.integers(0, 520))


def spell(level: str, spelling: int) -> str:
    """The accepted spellings of a level: `L4-L5`, `l4-l5`, `L4/L5`, `L4-5`."""
    if not level or "-" not in level:
        return level.lower() if spelling == 1 else level
    upper, lower = level.split("-")
    match spelling:
        case 1:
            return level.lower()
        case 2:
            return f"{upper}/{lower}"
        case 3 if upper[0] == lower[0]:
            return f"{upper}-{lower[1:]}"
    return level


@dataclass(frozen=True)
class FindingSpec:
    code: str
    value: object
    level: str = ""  # canonical; "" = no level
    side: str = ""


@dataclass(frozen=True)
class SurgerySpec:
    day: int  # days after the history's first day
    hour: int  # local
    procedure: str
    levels: tuple[str, ...]


@dataclass(frozen=True)
class Step:
    via: str = "orm"
    spelling: int = 0  # how the API path spells levels
    wait: timedelta = timedelta(0)  # the clock moves this much before the step
    refresh: bool = True  # refresh the stale surgeries and sweep after the step


@dataclass(frozen=True)
class AddSurgery(Step):
    n: int = 0  # which of the history's SurgerySpecs


@dataclass(frozen=True)
class AddExam(Step):
    surgery: int = 0  # the exam's date counts from this surgery's local date
    day: int = 0
    hour: int = 12  # local: hours before the surgery's make a same-day, pre-surgery exam
    modality: str = "XR"
    contrast: str = "none"
    dose: float | None = None
    findings: tuple[FindingSpec, ...] = ()


@dataclass(frozen=True)
class CorrectExam(Step):
    exam: int = 0
    day: int | None = None  # re-dated: days after its surgery (or kept)
    modality: str | None = None
    findings: tuple[FindingSpec, ...] | None = None  # replaced (or kept)


@dataclass(frozen=True)
class MoveExam(Step):
    exam: int = 0
    surgery: int = 0


@dataclass(frozen=True)
class DeleteExam(Step):
    exam: int = 0


@dataclass(frozen=True)
class AddEvent(Step):
    surgery: int = 0
    code: str = "new_radicular_pain"
    day: int = 0
    hours: int = 1  # after the surgery's time on that day


@dataclass(frozen=True)
class CorrectEvent(Step):
    event: int = 0
    code: str | None = None
    shift_hours: int = 0


@dataclass(frozen=True)
class DeleteEvent(Step):
    event: int = 0


@dataclass(frozen=True)
class AddAssessment(Step):
    surgery: int = 0
    day: int = 0
    nrs_back: int = 3


@dataclass(frozen=True)
class CorrectAssessment(Step):
    assessment: int = 0
    nrs_back: int = 3


@dataclass(frozen=True)
class DeleteAssessment(Step):
    assessment: int = 0


@dataclass(frozen=True)
class CorrectSurgery(Step):
    surgery: int = 0
    procedure: str | None = None
    levels: tuple[str, ...] | None = None
    shift_days: int = 0  # re-dated (only if its records stay after it)


@dataclass(frozen=True)
class Waive(Step):
    surgery: int = 0
    code: str = "baseline_film"


@dataclass(frozen=True)
class WaiveWorkup(Step):
    event: int = 0


@dataclass(frozen=True)
class Wait(Step):
    pass


@dataclass(frozen=True)
class History:
    surgeries: tuple[SurgerySpec, ...]
    steps: tuple[Step, ...]
    final_wait: timedelta = field(default=timedelta(0))


def _common(**extra):
    return {
        "via": VIA,
        "spelling": st.integers(0, 3),
        "wait": st.sampled_from(WAITS),
        "refresh": st.booleans(),
        **extra,
    }


@st.composite
def finding_lists(draw) -> tuple[FindingSpec, ...]:
    found, sites = [], set()
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(("joint", "vertebra", "siteless")))
        table = {"joint": JOINT_FINDINGS, "vertebra": VERTEBRA_FINDINGS,
                 "siteless": SITELESS_FINDINGS}[kind]  # fmt: skip
        code = draw(st.sampled_from(sorted(table)))
        value = draw(st.sampled_from(table[code]))
        levels = {"joint": ("", *JOINTS), "vertebra": ("", *VERTEBRAE), "siteless": ("",)}[kind]
        level = draw(st.sampled_from(levels))
        side = draw(st.sampled_from(("", "left", "right")))
        if (code, level, side) not in sites:
            sites.add((code, level, side))
            found.append(FindingSpec(code, value, level, side))
    return tuple(found)


surgery_specs = st.builds(
    SurgerySpec,
    day=st.integers(0, 450),
    hour=st.sampled_from((8, 14, 23)),
    procedure=st.sampled_from(PROCEDURES),
    levels=st.sampled_from(SURGERY_LEVELS),
)

steps = st.one_of(
    st.builds(AddExam, **_common(
        surgery=SELECTOR, day=DAYS, hour=st.sampled_from((0, 7, 13, 20)),
        modality=st.sampled_from(MODALITIES), contrast=st.sampled_from(("none", "gadolinium")),
        dose=st.sampled_from((None, None, 0.5, 9.0, 15.0)), findings=finding_lists(),
    )),
    st.builds(CorrectExam, **_common(
        exam=SELECTOR, day=st.none() | DAYS, modality=st.none() | st.sampled_from(MODALITIES),
        findings=st.none() | finding_lists(),
    )),
    st.builds(MoveExam, **_common(exam=SELECTOR, surgery=SELECTOR)),
    st.builds(DeleteExam, **_common(exam=SELECTOR)),
    st.builds(AddEvent, **_common(
        surgery=SELECTOR, code=st.sampled_from(EVENT_CODES), day=DAYS, hours=st.integers(0, 30),
    )),
    st.builds(CorrectEvent, **_common(
        event=SELECTOR, code=st.none() | st.sampled_from(EVENT_CODES),
        shift_hours=st.sampled_from((0, 3, 72, 24 * 40)),
    )),
    st.builds(DeleteEvent, **_common(event=SELECTOR)),
    st.builds(AddAssessment, **_common(
        surgery=SELECTOR, day=DAYS, nrs_back=st.sampled_from((1, 2, 3, 5, 6, 8)),
    )),
    st.builds(CorrectAssessment, **_common(
        assessment=SELECTOR, nrs_back=st.sampled_from((1, 3, 4, 8)),
    )),
    st.builds(DeleteAssessment, **_common(assessment=SELECTOR)),
    st.builds(CorrectSurgery, **_common(
        surgery=SELECTOR, procedure=st.none() | st.sampled_from(PROCEDURES),
        levels=st.none() | st.sampled_from(SURGERY_LEVELS),
        shift_days=st.sampled_from((0, 0, -3, 2, 30)),
    )),
    st.builds(Waive, **_common(surgery=SELECTOR, code=st.sampled_from(EXAM_CHECKPOINTS))),
    st.builds(WaiveWorkup, **_common(event=SELECTOR)),
    st.builds(Wait, **_common()),
)  # fmt: skip


@st.composite
def histories(draw, max_steps: int = 12) -> History:
    surgeries = draw(st.lists(surgery_specs, min_size=1, max_size=3, unique_by=lambda s: s.day))
    drawn = draw(st.lists(steps, max_size=max_steps))
    for n in range(len(surgeries)):
        at = draw(st.integers(0, len(drawn)))
        drawn.insert(at, draw(st.builds(AddSurgery, n=st.just(n), **_common())))
    return History(tuple(surgeries), tuple(drawn), draw(st.sampled_from(WAITS)))
