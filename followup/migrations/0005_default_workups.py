from django.db import migrations

from followup.defaults import load_default_protocols


def load(apps, schema_editor):
    # Adds the families that are missing (here: the symptom work-ups of §5).
    load_default_protocols(
        apps.get_model("followup", "Protocol"),
        apps.get_model("followup", "CheckpointDefinition"),
        families=("workups",),
    )


class Migration(migrations.Migration):
    dependencies = [("followup", "0004_workups")]

    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
