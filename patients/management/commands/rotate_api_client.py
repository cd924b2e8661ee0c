"""`manage.py rotate_api_client`: a new token for an integration client."""

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from patients.models import ApiClient


class Command(BaseCommand):
    help = (
        "Give an integration client a new bearer token (the last line); the current one keeps "
        "working for the overlap, then answers 401."
    )

    def add_arguments(self, parser):
        parser.add_argument("slug", help="the clinic's slug")
        parser.add_argument("name", help="the client's name")
        parser.add_argument(
            "--overlap-hours",
            type=int,
            default=24,
            metavar="N",
            help="hours the current token keeps working (default: %(default)s; 0: stops now)",
        )

    def handle(self, slug, name, overlap_hours, **options):
        if not 0 <= overlap_hours <= 720:
            raise CommandError("--overlap-hours is between 0 and 720 (30 days).")
        client = ApiClient.objects.filter(
            clinic__slug=slug, name=name, smart_client__isnull=True, cds_hooks_client__isnull=True
        ).first()
        if client is None:
            raise CommandError(f"No client '{name}' in clinic '{slug}'.")
        if not client.is_active:
            raise CommandError(f"Client '{name}' of {slug} is revoked: create a new one.")
        if client.expires_at is not None and client.expires_at <= timezone.now():
            raise CommandError(f"Client '{name}' of {slug} has expired: create a new one.")
        token = client.rotate(timedelta(hours=overlap_hours))
        until = timezone.localtime(client.previous_token_expires_at, client.clinic.zone)
        self.stdout.write(f"Rotated API client {client.pk} '{name}' of {slug}.")
        self.stdout.write(f"The previous token works until {until:%Y-%m-%d %H:%M %Z}.")
        self.stdout.write("The new token is shown once; it is stored hashed. Bearer token:")
        self.stdout.write(token)
