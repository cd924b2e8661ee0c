"""`manage.py create_dicom_source SLUG AE_TITLE`: maps a calling AE title to a clinic."""

from django.core.management.base import BaseCommand, CommandError

from followup.feeds.dicom.sources import InvalidAeTitle, clean_ae_title
from followup.models import DicomSource
from patients.models import Clinic


class Command(BaseCommand):
    help = "Map a DICOM calling AE title to a clinic; an existing mapping is left as it is."

    def add_arguments(self, parser):
        parser.add_argument("slug", help="The clinic's slug.")
        parser.add_argument("ae_title", help="The calling AE title, as the modality sends it.")
        parser.add_argument("--name", default="", help="What the sender is (e.g. 'CT room 2').")

    def handle(self, slug, ae_title, name, **options):
        try:
            ae_title = clean_ae_title(ae_title)
        except InvalidAeTitle as error:
            raise CommandError(str(error)) from None
        clinic = Clinic.objects.filter(slug=slug).first()
        if clinic is None:
            raise CommandError(f"No clinic with the slug {slug!r}.")
        source, created = DicomSource.objects.get_or_create(
            ae_title=ae_title, defaults={"clinic": clinic, "name": name}
        )
        if source.clinic_id != clinic.pk:
            raise CommandError(
                f"The AE title {ae_title} already sends to another clinic; "
                "an AE title maps to one clinic."
            )
        verb = "Created" if created else "Exists:"
        self.stdout.write(f"{verb} DICOM source {source.ae_title} -> clinic {clinic.slug}")
