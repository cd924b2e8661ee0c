"""`manage.py outcomes_report [--clinic SLUG ...] [--group-by surgeon] [--from DATE]
[--to DATE] [--time-point CODE]`: the outcomes reports of these clinics (every clinic by
default) as one JSON object by clinic slug, computed together (`outcomes.run_many`,
docs/outcomes.md): what a network of clinics, or its registry office, takes in one go.
The filters are the API's (its serializer checks them); each clinic's read is audited
(a RecordRead naming the command, with no patient: a report shows no one's record)."""

import json

from django.core.management.base import BaseCommand, CommandError
from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone

from followup.api.reports import OutcomesQuerySerializer
from followup.reports import outcomes
from patients.models import Clinic, RecordRead

ENDPOINT = "manage.py outcomes_report"


class Command(BaseCommand):
    help = "The outcomes reports of clinics (all by default), as JSON by clinic slug."

    def add_arguments(self, parser):
        parser.add_argument("--clinic", action="append", default=[], metavar="SLUG",
                            help="a clinic's slug; repeat for several (default: all)")  # fmt: skip
        parser.add_argument("--group-by", default="none", help="none, surgeon, procedure, levels")
        parser.add_argument("--from", dest="performed_from", help="surgeries from this day")
        parser.add_argument("--to", dest="performed_to", help="surgeries up to this day")
        parser.add_argument("--time-point", help="one checkpoint or PROM time point code")

    def handle(self, clinic, group_by, performed_from, performed_to, time_point, **options):
        asked = {"group_by": group_by, "performed_from": performed_from,
                 "performed_to": performed_to, "time_point": time_point}  # fmt: skip
        query = OutcomesQuerySerializer(data={k: v for k, v in asked.items() if v is not None})
        if not query.is_valid():
            raise CommandError(f"Invalid filters: {json.dumps(query.errors)}")
        clinics = Clinic.objects.order_by("slug")
        if clinic:
            clinics = clinics.filter(slug__in=clinic)
            if missing := set(clinic) - set(clinics.values_list("slug", flat=True)):
                raise CommandError(f"No clinic {', '.join(sorted(missing))}.")
        clinics = list(clinics)
        now = timezone.now()
        reports = outcomes.run_many(clinics, query.filters(), now)
        RecordRead.objects.bulk_create(
            RecordRead(clinic=c, endpoint=ENDPOINT, patient_ids=[], at=now) for c in clinics
        )
        by_slug = {c.slug: reports[c.pk] for c in clinics}
        self.stdout.write(json.dumps(by_slug, cls=DjangoJSONEncoder, indent=1))
