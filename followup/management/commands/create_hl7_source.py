"""`manage.py create_hl7_source SLUG FACILITY`: map an HL7 v2 sending facility (MSH-4) to
a clinic; idempotent (a facility already mapped to this clinic is left as it is)."""

from django.core.management.base import BaseCommand, CommandError

from followup.models import Hl7Source
from patients.models import Clinic


class Command(BaseCommand):
    help = "Map an HL7 v2 sending facility (MSH-4 namespace id) to a clinic; idempotent."

    def add_arguments(self, parser):
        parser.add_argument("slug", help="The clinic's slug.")
        parser.add_argument("facility", help="MSH-4 as the hospital sends it.")
        parser.add_argument("--name", default="", help="What people call this feed.")

    def handle(self, slug, facility, name, **options):
        clinic = Clinic.objects.filter(slug=slug).first()
        if clinic is None:
            raise CommandError(f"No clinic {slug!r}: create it first (create_clinic).")
        facility = facility.strip()
        if not facility or "|" in facility or "^" in facility:
            raise CommandError("The facility is MSH-4's namespace id: not empty, no | or ^.")
        source, created = Hl7Source.objects.get_or_create(
            facility=facility, defaults={"clinic": clinic, "name": name}
        )
        if source.clinic_id != clinic.pk:
            raise CommandError(
                f"Facility {facility!r} already sends to another clinic; a facility maps to one."
            )
        verb = "Created" if created else "Exists:"
        self.stdout.write(f"{verb} HL7 source {source.facility} -> {clinic.slug}")
