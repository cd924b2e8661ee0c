from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("followup", "0014_webhook_client"),
    ]

    operations = [
        migrations.AddField(
            model_name="email",
            name="claimed_by",
            field=models.CharField(
                blank=True,
                help_text="The run that claimed it (a token per run).",
                max_length=32,
            ),
        ),
    ]
