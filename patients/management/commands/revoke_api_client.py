"""`manage.py revoke_api_client`: revoke an integration client's token."""

from django.core.management.base import BaseCommand, CommandError

from patients.models import ApiClient


class Command(BaseCommand):
    help = "Revoke an integration client's token: it answers 401 from then on."

    def add_arguments(self, parser):
        parser.add_argument("slug", help="the clinic's slug")
        parser.add_argument("name", help="the client's name")

    def handle(self, slug, name, **options):
        client = ApiClient.objects.filter(clinic__slug=slug, name=name).first()
        if client is None:
            raise CommandError(f"No client '{name}' in clinic '{slug}'.")
        if client.is_active:
            client.revoke()
        self.stdout.write(
            f"Revoked API client '{name}' of {slug} at {client.revoked_at:%Y-%m-%d %H:%M}."
        )
