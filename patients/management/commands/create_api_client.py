"""`manage.py create_api_client`: an integration client for a clinic, its token printed
last."""

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from patients.models import DEFAULT_SCOPES, ApiClient, Clinic, Scope


def scopes_list(value: str) -> list[str]:
    scopes = [scope.strip() for scope in value.split(",") if scope.strip()]
    unknown = sorted(set(scopes) - set(Scope.values))
    if unknown or not scopes:
        raise CommandError(f"Scopes are a comma-separated list of {','.join(Scope.values)}.")
    return list(dict.fromkeys(scopes))


class Command(BaseCommand):
    help = "Create an integration client for a clinic; its bearer token is the last line."

    def add_arguments(self, parser):
        parser.add_argument("slug", help="the clinic's slug")
        parser.add_argument("name", help="a name for the integration, unique in the clinic")
        parser.add_argument(
            "--scopes",
            default=",".join(DEFAULT_SCOPES),
            help=f"comma-separated, of {','.join(Scope.values)} (default: %(default)s)",
        )
        parser.add_argument(
            "--created-by",
            metavar="USERNAME",
            help="the staff member this is done for, recorded as the creator (default: none)",
        )
        parser.add_argument(
            "--expires-in-days",
            type=int,
            metavar="N",
            help="the token answers 401 after N days (default: never)",
        )

    def handle(self, slug, name, scopes, created_by, expires_in_days, **options):
        clinic = Clinic.objects.filter(slug=slug).first()
        if clinic is None:
            raise CommandError(f"No clinic '{slug}': create it with create_clinic first.")
        if ApiClient.objects.filter(clinic=clinic, name=name).exists():
            raise CommandError(f"Clinic '{slug}' already has a client named '{name}'.")
        creator = None
        if created_by is not None:
            creator = get_user_model().objects.filter(username=created_by).first()
            if creator is None:
                raise CommandError(f"No user '{created_by}'.")
        expires_at = None
        if expires_in_days is not None:
            if expires_in_days < 1:
                raise CommandError("--expires-in-days is at least 1.")
            expires_at = timezone.now() + timedelta(days=expires_in_days)
        client, token = ApiClient.issue(
            clinic, name, scopes_list(scopes), created_by=creator, expires_at=expires_at
        )
        self.stdout.write(
            f"Created API client {client.pk} '{name}' for {slug}, scopes {','.join(client.scopes)}"
            + (f", expires {expires_at:%Y-%m-%d %H:%M %Z}." if expires_at else ".")
        )
        self.stdout.write("The token is shown once; it is stored hashed. Bearer token:")
        self.stdout.write(token)
