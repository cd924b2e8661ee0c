"""`manage.py create_smart_client SLUG NAME --jwks PATH` (or `--jwks-url URL`): a SMART
Backend Services client for a clinic, with the public keys of a JWK Set file or the URL
where the client publishes them (fetched once registered, then every few minutes); its
client_id printed last."""

import json

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import URLValidator

from patients.models import SMART_SCOPES, Clinic, Scope, SmartClient


class Command(BaseCommand):
    help = "Register a SMART backend-services client; its client_id is the last line."

    def add_arguments(self, parser):
        parser.add_argument("slug", help="the clinic's slug")
        parser.add_argument("name", help="a name for the client, unique in the clinic")
        keys = parser.add_mutually_exclusive_group(required=True)
        keys.add_argument("--jwks", metavar="PATH", help="its JWK Set (JSON)")
        keys.add_argument("--jwks-url", default="", metavar="URL",
                          help="where it publishes its JWK Set (https)")  # fmt: skip
        parser.add_argument(
            "--scopes",
            default=Scope.READ,
            help="what its tokens may be granted, comma-separated, of read,write "
            "(default: %(default)s)",
        )

    def handle(self, slug, name, jwks, jwks_url, scopes, **options):
        clinic = Clinic.objects.filter(slug=slug).first()
        if clinic is None:
            raise CommandError(f"No clinic '{slug}': create it with create_clinic first.")
        if SmartClient.objects.filter(clinic=clinic, name=name).exists():
            raise CommandError(f"Clinic '{slug}' already has a SMART client named '{name}'.")
        allowed = [s.strip() for s in scopes.split(",") if s.strip()]
        if not allowed or set(allowed) - {str(s) for s in SMART_SCOPES}:
            raise CommandError("--scopes is a comma-separated list of read,write.")
        key_set = None
        if jwks:
            try:
                with open(jwks, encoding="utf-8") as file:
                    key_set = json.load(file)
            except (OSError, ValueError) as error:
                raise CommandError(f"Cannot read a JSON JWK Set from {jwks}: {error}") from None
        else:
            try:
                URLValidator(schemes=["https", "http"])(jwks_url)
            except ValidationError:
                raise CommandError("--jwks-url: not an http(s) URL.") from None
        try:
            client = SmartClient.register(clinic, name, key_set, scopes=allowed,
                                          jwks_url=jwks_url)  # fmt: skip
        except ValidationError as invalid:
            raise CommandError(f"{jwks or jwks_url}: {' '.join(invalid.messages)}") from None
        if jwks_url:
            client.refresh_from_db()  # its keys were fetched once the registration committed
            fetched = "fetched" if client.jwks_fetched_at else f"not fetched ({client.jwks_error})"
            self.stdout.write(f"Its JWK Set from {jwks_url}: {fetched}.")
        self.stdout.write(
            f"Created SMART client '{name}' for {slug}, scopes {','.join(client.scopes)}; "
            f"token endpoint /auth/token. client_id:"
        )
        self.stdout.write(client.client_id)
