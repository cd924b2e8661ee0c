"""`manage.py pacs_sync`: records the studies the PACS has and the service did not get."""

from django.core.management.base import BaseCommand, CommandError

from followup.feeds.dicom import reconcile
from followup.models import PacsSyncStatus

WIDTH = 30


class Command(BaseCommand):
    help = (
        "Ask the PACS (DICOMweb QIDO-RS, PACS_DICOMWEB_URL) for the followed patients' "
        "studies since the last run, and record those the service did not get."
    )

    def handle(self, **options):
        try:
            record = reconcile.run(progress=self._progress)
        except (reconcile.NotConfigured, reconcile.AlreadyRunning) as error:
            raise CommandError(str(error)) from None
        self.stdout.write("")
        self.stdout.write(
            f"PACS sync since {record.since}: {record.patients} patients, "
            f"{record.studies_found} studies found, {record.studies_recorded} recorded, "
            f"{record.studies_known} already known, {record.studies_refused} refused"
        )
        if record.status != PacsSyncStatus.DONE:
            raise CommandError(f"The PACS sync failed: {record.error}")

    def _progress(self, done: int, total: int) -> None:
        """A bar on a terminal; a line every 10% in a log."""
        filled = WIDTH * done // max(total, 1)
        line = f"[{'#' * filled}{'.' * (WIDTH - filled)}] {done}/{total} patients"
        if getattr(self.stdout._out, "isatty", lambda: False)():
            self.stdout.write(f"\r{line}", ending="")
            self.stdout.flush()
        elif done == total or done % max(total // 10, 1) == 0:
            self.stdout.write(line)
