"""The default protocols of CLINICAL_RULES §2 as data (the data migrations 0002 and 0005
hold their own copy; the tests' `protocols` fixture loads this one).

Numbers marked "default, not from the seeds" there are starting values: each clinic
edits them in the admin, which saves a new protocol version.
"""

FUSION_SOURCE = "Guide, 'Expected findings in successful fusion'"
EARLY_CHANGES = {
    "code": "early_changes_end",
    "label": "End of expected early post-operative changes",
    "kind": "milestone",
    "opens_day": 183,
    "due_day": 183,
    "source": "Guide: the hernial image may persist, and roots may enhance, up to 6 months.",
}
GADOLINIUM_CUTOFF = {
    "code": "gadolinium_cutoff",
    "label": "Gadolinium MRI no longer useful (scar matured)",
    "kind": "milestone",
    "opens_day": 183,
    "due_day": 183,
    "source": "Guide, 'Disc herniation recurrence vs epidural fibrosis'; Fig. 7.",
}


def _prom(code, label, opens, due, target, instruments):
    return {
        "code": code, "label": label, "kind": "prom", "opens_day": opens, "due_day": due,
        "target_day": target, "instruments": instruments, "required": False,
        "source": "CLINICAL_RULES §6 (registries: baseline, about 3 and 12 months, 2 years); "
        "the 6-week point and every window edge are defaults, not from the seeds.",
    }  # fmt: skip


# Patient-reported outcomes at the registries' time points (CLINICAL_RULES §6), planned
# with each surgery of the families below (migration followup 0019 adds them to databases
# that had the protocols without them). `required` is off: a missed PROM lowers the
# capture rate and shows on the worklist; it raises no overdue alert.
FOLLOW_UP_INSTRUMENTS = ["nrs_back", "nrs_leg", "odi", "grc"]
PROM_TIME_POINTS = [
    _prom("prom_baseline", "PROMs before surgery (baseline)", -90, 0, None,
          ["nrs_back", "nrs_leg", "odi"]),
    _prom("prom_6w", "PROMs at 6 weeks", 35, 56, 42, FOLLOW_UP_INSTRUMENTS),
    _prom("prom_3m", "PROMs at 3 months", 75, 120, 91, FOLLOW_UP_INSTRUMENTS),
    _prom("prom_12m", "PROMs at 12 months", 335, 425, 365, FOLLOW_UP_INSTRUMENTS),
    _prom("prom_2y", "PROMs at 2 years", 700, 790, 730, FOLLOW_UP_INSTRUMENTS),
]  # fmt: skip
PROM_FAMILIES = ("fusion", "disc_surgery")

PROTOCOLS = [
    {
        "family": "fusion",
        "name": "Instrumented fusion follow-up",
        "definitions": [
            {
                "code": "baseline_film",
                "label": "Baseline film (reference position of the hardware)",
                "kind": "exam",
                "opens_day": 0,
                "due_day": 42,
                "modalities": ["XR"],
                "overdue_severity": "high",
                "source": f"{FUSION_SOURCE}; 42 days is a default, not from the seeds.",
            },
            {
                "code": "bridging_film",
                "label": "Bridging film (trabecular bridging, 3-9 months)",
                "kind": "exam",
                "opens_day": 90,
                "due_day": 270,
                "modalities": ["XR", "CT"],
                "source": "Guide: bridging appears on radiographs between 3 and 9 months.",
            },
            {
                "code": "fusion_assessment",
                "label": "12-month fusion assessment",
                "kind": "exam",
                "opens_day": 335,
                "due_day": 425,
                "target_day": 365,
                "modalities": ["XR", "CT"],
                "source": "Guide: solid fusion at 12 months; MRI is not a good choice to assess "
                "fusion. Window edges are defaults, not from the seeds.",
            },
            GADOLINIUM_CUTOFF,
            EARLY_CHANGES,
            *PROM_TIME_POINTS,
        ],
    },
    {
        "family": "disc_surgery",
        "name": "Disc surgery and decompression follow-up",
        "definitions": [GADOLINIUM_CUTOFF, EARLY_CHANGES, *PROM_TIME_POINTS],
    },
    {"family": "none", "name": "No routine imaging follow-up", "definitions": []},
]


def load_default_protocols(Protocol, CheckpointDefinition, families=None) -> None:
    """Create version 1 of each protocol where the family has none; idempotent.

    Takes the model classes so that a data migration can pass its historical models,
    and the families that migration's models can hold.
    """
    for spec in PROTOCOLS:
        if families is not None and spec["family"] not in families:
            continue
        if Protocol.objects.filter(family=spec["family"]).exists():
            continue
        protocol = Protocol.objects.create(
            family=spec["family"], version=1, name=spec["name"], notes="CLINICAL_RULES §2 defaults"
        )
        CheckpointDefinition.objects.bulk_create(
            CheckpointDefinition(protocol=protocol, **definition)
            for definition in spec["definitions"]
        )


def _workup(code, label, modalities, hours, severity, recommendation, source):
    return {
        "code": code, "label": label, "kind": "workup", "opens_day": 0, "due_day": 0,
        "due_hours": hours, "modalities": modalities, "overdue_severity": severity,
        "recommendation": recommendation, "source": source,
    }  # fmt: skip


WORKUPS = {
    "family": "workups",
    "name": "Symptom work-ups (CLINICAL_RULES §5)",
    "definitions": [
        _workup("cauda_equina", "Cauda equina syndrome work-up", ["MR", "CT"], 6, "urgent",
                "Lumbar MR within hours; CT if MR is impossible.",
                "Guide, 'Acute cauda equina syndrome'; 6 h is a default."),
        _workup("medullary_syndrome", "Medullary syndrome work-up", ["MR"], 6, "urgent",
                "Full-spine MR, urgently.", "Guide, 'Acute medullary syndrome'; 6 h is a default."),
        _workup("blood_loss", "Blood loss work-up", ["CT"], 6, "urgent",
                "CT without and with contrast (arterial and portal phases).",
                "Guide, 'Blood loss'; 6 h is a default."),
        _workup("new_radicular_pain", "New radicular pain work-up", ["CT", "MR"], 48, "high",
                "CT first (screw or cage against a root); MR with and without contrast if CT "
                "is non-contributory.", "Guide, 'New radicular pain'; 48 h is a default."),
        _workup("infection_signs", "Infection work-up", ["MR"], 48, "high",
                "MR without and with contrast.", "Guide, 'Infection'; 48 h is a default."),
        _workup("positional_headache", "Positional headache work-up", ["MR"], 72, "high",
                "MR with high-resolution T2 (pseudomeningocele).",
                "Guide, 'Headache'; 72 h is a default."),
        _workup("pain_recurrence", "Pseudarthrosis work-up", ["XR", "CT"], 30 * 24, "high",
                "Radiographs including flexion/extension views, and CT.",
                "Guide, 'Hardware failure: pseudarthrosis'; 30 days is a default."),
        _workup("recurrent_radicular_pain", "Recurrent radicular pain work-up", ["MR"],
                30 * 24, "high",
                "MR with 3D T2; contrast only if the herniation looks like the pre-operative "
                "one and before the gadolinium cutoff (day 183).",
                "Guide, 'Disc herniation recurrence', Fig. 7; 30 days is a default."),
        # MR first (§5): a radiograph alone does not answer it. Databases that had ["MR",
        # "XR"] here got the fix as a new version (migration followup 0011).
        _workup("no_improvement", "No improvement after decompression work-up", ["MR"],
                30 * 24, "high",
                "MR; then upright flexion/extension radiographs if the decompression looks right.",
                "Guide, 'Insufficient dural sac decompression in LSS'; 30 days is a default."),
    ],
}  # fmt: skip
PROTOCOLS.append(WORKUPS)
