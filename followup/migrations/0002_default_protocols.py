from django.db import migrations

from followup.defaults import load_default_protocols


def load(apps, schema_editor):
    load_default_protocols(
        apps.get_model("followup", "Protocol"),
        apps.get_model("followup", "CheckpointDefinition"),
        families=("fusion", "disc_surgery", "none"),  # the work-ups come in 0005
    )


class Migration(migrations.Migration):
    dependencies = [("followup", "0001_initial")]

    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
