"""The default protocols of CLINICAL_RULES §2, loaded by a data migration.

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
        ],
    },
    {
        "family": "disc_surgery",
        "name": "Disc surgery and decompression follow-up",
        "definitions": [GADOLINIUM_CUTOFF, EARLY_CHANGES],
    },
    {"family": "none", "name": "No routine imaging follow-up", "definitions": []},
]


def load_default_protocols(Protocol, CheckpointDefinition) -> None:
    """Create version 1 of each protocol where the family has none; idempotent.

    Takes the model classes so that a data migration can pass its historical models.
    """
    for spec in PROTOCOLS:
        if Protocol.objects.filter(family=spec["family"]).exists():
            continue
        protocol = Protocol.objects.create(
            family=spec["family"], version=1, name=spec["name"], notes="CLINICAL_RULES §2 defaults"
        )
        CheckpointDefinition.objects.bulk_create(
            CheckpointDefinition(protocol=protocol, **definition)
            for definition in spec["definitions"]
        )
