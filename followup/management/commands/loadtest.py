"""`manage.py loadtest`: a bounded load run on loopback, then a check of the database
(followup/ops/loadtest.py says what it does).

    python manage.py loadtest --clients 50 --seconds 60
"""

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from followup.ops import loadtest
from followup.ops.serving import ServerError


class Command(BaseCommand):
    help = "Bounded load run on loopback against gunicorn, then check the database. Writes data."

    def add_arguments(self, parser):
        parser.add_argument("--clients", type=int, default=50)
        parser.add_argument("--seconds", type=float, default=60)
        parser.add_argument(
            "--max-requests", type=int, default=100_000,
            help="Per client: the run stops at this count or at --seconds.",
        )  # fmt: skip
        parser.add_argument("--patients", type=int, default=100)
        parser.add_argument(
            "--url", help="A server already running on this database (loopback only)."
        )
        parser.add_argument("--json", help="Also write the report to this file.")
        parser.add_argument(
            "--allow-5xx", action="store_true",
            help="Exit 0 despite 5xx answers (a fault drill expects some).",
        )  # fmt: skip

    def handle(self, **options):
        try:
            report = loadtest.run(
                clients=options["clients"], seconds=options["seconds"], url=options["url"],
                max_requests=options["max_requests"], patients=options["patients"],
            )  # fmt: skip
        except (loadtest.Refused, ServerError) as error:
            raise CommandError(str(error)) from None
        self.stdout.write(json.dumps(report, indent=2))
        if options["json"]:
            Path(options["json"]).write_text(json.dumps(report, indent=2))
        if problems := loadtest.problems(report, options["allow_5xx"]):
            raise CommandError("Load run failed: " + ", ".join(problems))
