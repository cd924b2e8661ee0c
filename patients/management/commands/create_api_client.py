from django.core.management.base import BaseCommand, CommandError

from patients.models import ApiClient, Clinic


class Command(BaseCommand):
    help = "Create an integration client for a clinic; its bearer token is the last line."

    def add_arguments(self, parser):
        parser.add_argument("slug", help="the clinic's slug")
        parser.add_argument("name", help="a name for the integration, unique in the clinic")

    def handle(self, slug, name, **options):
        clinic = Clinic.objects.filter(slug=slug).first()
        if clinic is None:
            raise CommandError(f"No clinic '{slug}': create it with create_clinic first.")
        if ApiClient.objects.filter(clinic=clinic, name=name).exists():
            raise CommandError(f"Clinic '{slug}' already has a client named '{name}'.")
        client, token = ApiClient.issue(clinic, name)
        self.stdout.write(f"Created API client {client.pk} '{name}' for {slug}.")
        self.stdout.write("The token is shown once; it is stored hashed. Bearer token:")
        self.stdout.write(token)
