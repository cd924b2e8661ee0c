"""`manage.py create_clinic`: a clinic (a tenant), left as it is if the slug exists."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from patients.models import Clinic, validate_timezone


class Command(BaseCommand):
    help = "Create a clinic (a tenant); an existing slug is left as it is."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--name", required=True)
        parser.add_argument("--timezone", default="UTC", help="IANA zone, e.g. Europe/Paris")

    def handle(self, slug, name, timezone, **options):
        try:
            validate_timezone(timezone)
        except ValidationError as error:
            raise CommandError(error.messages[0]) from None
        clinic, created = Clinic.objects.get_or_create(
            slug=slug, defaults={"name": name, "timezone": timezone}
        )
        verb = "Created" if created else "Exists:"
        self.stdout.write(f"{verb} clinic {clinic.slug} ({clinic.name}, {clinic.timezone})")
