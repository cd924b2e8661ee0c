"""`manage.py sweep`: run the sweep now, as the periodic task does."""

from django.core.management.base import BaseCommand

from followup.pipeline import sweep


class Command(BaseCommand):
    help = "Run the sweep now, synchronously: what the periodic task does. Idempotent."

    def handle(self, **options):
        result = sweep.run()
        self.stdout.write(
            f"Refreshed {result.refreshed} surgery(ies); raised {result.alerts} alert(s)."
        )
        if result.failed:
            self.stderr.write(f"Could not alert checkpoints {result.failed}: see the log.")
