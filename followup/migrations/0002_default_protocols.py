"""The default protocols of CLINICAL_RULES §2 (the symptom work-ups come in 0005).

The data is a copy, written here once: a migration must not import the project's live
code, which moves and changes after it (followup/rules/default_protocols.py holds the
same numbers for the tests' fixtures; tests/followup/test_migrations_import_no_live_code.py
checks both).
"""

from django.db import migrations

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


def load_protocols(apps, protocols) -> None:
    """Create version 1 of each protocol whose family has none; idempotent."""
    Protocol = apps.get_model("followup", "Protocol")
    CheckpointDefinition = apps.get_model("followup", "CheckpointDefinition")
    for spec in protocols:
        if Protocol.objects.filter(family=spec["family"]).exists():
            continue
        protocol = Protocol.objects.create(
            family=spec["family"], version=1, name=spec["name"], notes="CLINICAL_RULES §2 defaults"
        )
        CheckpointDefinition.objects.bulk_create(
            CheckpointDefinition(protocol=protocol, **definition)
            for definition in spec["definitions"]
        )


def load(apps, schema_editor):
    load_protocols(apps, PROTOCOLS)


class Migration(migrations.Migration):
    dependencies = [("followup", "0001_initial")]

    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
