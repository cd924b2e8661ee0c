"""`manage.py hl7_listener --port 2575`: receive HL7 v2 messages over MLLP
(docs/operations.md, "Hospital feeds")."""

from django.conf import settings
from django.core.management.base import BaseCommand

from followup.feeds.hl7 import listener


class Command(BaseCommand):
    help = "Serve HL7 v2 over MLLP: results, patient updates and merges, orders."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1", help="0.0.0.0 for every interface.")
        parser.add_argument("--port", type=int, default=2575)
        parser.add_argument(
            "--workers", type=int, default=8, help="Messages processed at once, per process."
        )
        parser.add_argument(
            "--processes", type=int, default=settings.HL7_PROCESSES,
            help="Listener processes sharing the port (HL7_PROCESSES).",
        )  # fmt: skip

    def handle(self, host, port, workers, processes, **options):
        listener.run(host, port, listener.Limits(workers=workers), processes=processes)
