"""A new version of the shared default work-ups whose `no_improvement` work-up takes MR
only (CLINICAL_RULES §5: MR first; upright radiographs come after it, if the
decompression looks right). Version 1 allowed a radiograph alone to close it.

The version already used is never edited: work-ups planned from it keep it, and only
events recorded from now on get the new one. Clinics' own versions are their data and
are left as they are. A database created after the fix (followup/rules/default_protocols.py already
says MR) has nothing to correct.
"""

from django.db import migrations

NOTES = (
    "no_improvement: MR only (CLINICAL_RULES §5, MR first); a radiograph alone no longer "
    "closes the work-up."
)


def mr_first(apps, schema_editor):
    Protocol = apps.get_model("followup", "Protocol")
    CheckpointDefinition = apps.get_model("followup", "CheckpointDefinition")
    newest = (
        Protocol.objects.filter(family="workups", clinic__isnull=True).order_by("-version").first()
    )
    if newest is None:
        return
    wrong = newest.definitions.filter(code="no_improvement").exclude(modalities=["MR"])
    if not wrong.exists():
        return
    fixed = Protocol.objects.create(
        family="workups", clinic=None, version=newest.version + 1, name=newest.name, notes=NOTES
    )
    copies = []
    for definition in newest.definitions.order_by("pk"):
        definition.pk, definition.protocol = None, fixed
        if definition.code == "no_improvement":
            definition.modalities = ["MR"]
        copies.append(definition)
    CheckpointDefinition.objects.bulk_create(copies)


class Migration(migrations.Migration):
    dependencies = [("followup", "0010_optional_checkpoints_never_overdue")]

    operations = [migrations.RunPython(mr_first, migrations.RunPython.noop)]
