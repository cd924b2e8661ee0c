"""The shared default symptom work-ups of CLINICAL_RULES §5, version 1.

A copy of the data, written here once (see 0002): a migration must not import the
project's live code. `no_improvement` takes MR only, as every database created since
that fix has loaded it (0011 gives older databases the same as a new version).
"""

from django.db import migrations


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
        _workup("no_improvement", "No improvement after decompression work-up", ["MR"],
                30 * 24, "high",
                "MR; then upright flexion/extension radiographs if the decompression looks right.",
                "Guide, 'Insufficient dural sac decompression in LSS'; 30 days is a default."),
    ],
}  # fmt: skip


def load(apps, schema_editor):
    """Create version 1 of the shared work-ups where there is none; idempotent."""
    Protocol = apps.get_model("followup", "Protocol")
    CheckpointDefinition = apps.get_model("followup", "CheckpointDefinition")
    if Protocol.objects.filter(family=WORKUPS["family"]).exists():
        return
    protocol = Protocol.objects.create(
        family=WORKUPS["family"], version=1, name=WORKUPS["name"],
        notes="CLINICAL_RULES §2 defaults",
    )  # fmt: skip
    CheckpointDefinition.objects.bulk_create(
        CheckpointDefinition(protocol=protocol, **definition)
        for definition in WORKUPS["definitions"]
    )


class Migration(migrations.Migration):
    dependencies = [("followup", "0004_workups")]

    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
