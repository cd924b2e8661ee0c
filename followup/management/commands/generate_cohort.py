"""`manage.py generate_cohort`: a synthetic, reproducible cohort (followup/ops/cohort.py)."""

import sys
import time
from datetime import date

from django.core.management.base import BaseCommand
from django.utils import timezone

from followup.ops.cohort import Generator


class Command(BaseCommand):
    help = "Load a synthetic, reproducible cohort (same seed and day, same data) in bulk."

    def add_arguments(self, parser):
        parser.add_argument("--patients", type=int, required=True)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument(
            "--today", type=date.fromisoformat, default=None,
            help="the day the cohort is 'as of' (default: today); fixes every date",
        )  # fmt: skip
        parser.add_argument("--per-clinic", type=int, default=500, help="patients per clinic")

    def handle(self, patients, seed, today, per_clinic, **options):
        started = time.monotonic()

        def progress(label: str, done: int, total: int) -> None:
            width = 40
            filled = int(width * done / total)
            rate = done / max(time.monotonic() - started, 1e-6)
            sys.stderr.write(f"\r{label} [{'#' * filled}{'.' * (width - filled)}] "
                             f"{done}/{total} ({rate:,.0f}/s)")  # fmt: skip
            if done == total:
                sys.stderr.write("\n")

        generator = Generator(seed=seed, today=today or timezone.localdate(), progress=progress)
        counts = generator.run(patients, patients_per_clinic=per_clinic)
        took = time.monotonic() - started
        summary = ", ".join(f"{value:,} {name}" for name, value in counts.as_dict().items())
        self.stdout.write(f"Generated in {took:.1f} s: {summary}.")
