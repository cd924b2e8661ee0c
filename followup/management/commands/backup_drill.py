"""`manage.py backup_drill [--keep]`: dump this database, restore it into a fresh one,
compare every table (followup/ops/backup_drill.py)."""

from django.core.management.base import BaseCommand, CommandError

from followup.ops.backup_drill import DrillFailed, drill


class Command(BaseCommand):
    help = "Dump the database, restore it into a fresh one and compare every table."

    def add_arguments(self, parser):
        parser.add_argument("--keep", action="store_true", help="keep the restored database")

    def handle(self, keep, **options):
        try:
            tables, rows = drill(keep)
        except DrillFailed as error:
            raise CommandError(str(error)) from None
        self.stdout.write(f"Restored {tables} tables and {rows} rows: identical.")
