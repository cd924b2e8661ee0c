"""`manage.py purge_read_audit`: forget every read-audit row past its retention."""

from django.conf import settings
from django.core.management.base import BaseCommand
from django.utils import timezone

from patients.base.api import read_audit


class Command(BaseCommand):
    help = (
        "Delete the audit of reads older than READ_AUDIT_RETENTION_DAYS, all of it (the sweep "
        "deletes a batch each run). Idempotent."
    )

    def handle(self, **options):
        now, total = timezone.now(), 0
        while deleted := read_audit.forget_old(now):
            total += deleted
        days = settings.READ_AUDIT_RETENTION_DAYS
        kept = f"older than {days} day(s)" if days else "none: a retention of 0 keeps all"
        self.stdout.write(f"Deleted {total} read(s) of the audit ({kept}).")
