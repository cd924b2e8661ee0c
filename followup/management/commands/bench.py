"""`manage.py bench`: the benchmark's options, run by followup/ops/bench.py."""

import sys
import time
from datetime import date
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from followup.ops import bench, bench_report, cohort


class Command(BaseCommand):
    help = (
        "Benchmark the sweep, the bulk ingest, the API reads and the digests, each beside "
        "its floor (the hand-written SQL doing the same state change); prints a table and "
        "writes JSON. Generates the cohort first when the database has fewer patients."
    )

    def add_arguments(self, parser):
        parser.add_argument("--patients", type=int, required=True, help="cohort size")
        parser.add_argument("--repeat", type=int, default=5, help="repetitions (median)")
        parser.add_argument(
            "--figures", default=",".join(bench.FIGURES),
            help=f"comma-separated, among {', '.join(bench.FIGURES)}",
        )  # fmt: skip
        parser.add_argument("--seed", type=int, default=bench.SEED)
        parser.add_argument("--today", type=date.fromisoformat, default=bench.TODAY)
        parser.add_argument(
            "--clients", type=int, default=4, help="concurrent readers of the API (and floors)"
        )
        parser.add_argument("--requests", type=int, default=40, help="per reader and repetition")
        parser.add_argument("--ingest-exams", type=int, default=1000, help="exams per bulk POST")
        parser.add_argument("--digest-alerts", type=int, default=20_000, help="open alerts")
        parser.add_argument("--out", type=Path, default=Path(settings.VAR_DIR) / "bench")

    def handle(self, patients, repeat, figures, seed, today, out, **options):
        figures = [name.strip() for name in figures.split(",") if name.strip()]
        if unknown := set(figures) - set(bench.FIGURES):
            raise CommandError(f"Unknown figure(s): {', '.join(sorted(unknown))}.")
        counts = {
            "repeat": repeat,
            "clients": options["clients"],
            "requests": options["requests"],
            "ingest-exams": options["ingest_exams"],
        }
        for name, count in counts.items():
            if count < 1:
                raise CommandError(f"--{name} must be at least 1.")
        started = time.monotonic()

        def progress(label: str, done: int, total: int) -> None:
            sys.stderr.write(f"\rcohort: {done:,}/{total:,} {label}")
            if done == total:
                sys.stderr.write("\n")

        if generated := cohort.ensure_cohort(patients, seed, today, progress):
            took = time.monotonic() - started
            self.stderr.write(f"Generated {generated:,} cohort patients in {took:.0f} s.")
        report = bench.Bench(
            patients=patients, repeat=repeat, clients=options["clients"],
            requests=options["requests"], ingest_exams=options["ingest_exams"],
            digest_alerts=options["digest_alerts"], seed=seed, today=today,
            log=lambda line: self.stderr.write(line),
        ).run(figures)  # fmt: skip
        path = bench_report.write(report, out)
        self.stdout.write(bench_report.table(report))
        self.stdout.write(f"JSON: {path}")
