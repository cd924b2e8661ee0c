"""`manage.py dicom_listener --port 11112 --ae-title FOLLOWUP`: the DICOM storage SCP."""

import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from followup.feeds.dicom.listener import Listener
from followup.feeds.dicom.sources import InvalidAeTitle, clean_ae_title


class Command(BaseCommand):
    help = "Receive studies and dose reports from modalities and the PACS (DICOM C-STORE)."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=11112)
        parser.add_argument("--ae-title", default="FOLLOWUP", help="The called AE title.")
        parser.add_argument(
            "--host", default="0.0.0.0", help="Address to listen on (default: all)."
        )

    def handle(self, port, ae_title, host, **options):
        try:
            ae_title = clean_ae_title(ae_title)
        except InvalidAeTitle as error:
            raise CommandError(str(error)) from None
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        listener = Listener(ae_title, host, port)
        try:
            listener.start()
        except OSError as error:
            raise CommandError(f"Cannot listen on {host}:{port}: {error.strerror}") from None
        self.stdout.write(f"DICOM listener {ae_title} on {host}:{port}", ending="\n")
        self.stdout.flush()
        stop.wait()
        listener.stop(grace=settings.DICOM_SHUTDOWN_GRACE)
        self.stdout.write("DICOM listener stopped")
