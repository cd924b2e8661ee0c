"""`manage.py send_digests`: queue and send the digests that are due now."""

from django.core.management.base import BaseCommand
from django.utils import timezone

from followup.delivery import mailing


class Command(BaseCommand):
    help = "Send the digests that are due now (as the nightly schedule does). Idempotent."

    def handle(self, **options):
        now = timezone.now()
        queued = mailing.queue_digests(now)
        sent = mailing.deliver(now)
        self.stdout.write(f"Queued {queued} digest(s); sent {sent} e-mail(s).")
