"""The tenants and who acts for them: clinics, staff memberships and roles, the API's
integration clients (hashed tokens, scopes, rotation) and their request log."""

import hashlib
import re
import secrets
from datetime import timedelta
from zoneinfo import ZoneInfo, available_timezones

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, URLValidator
from django.db import models, transaction
from django.dispatch import Signal
from django.utils import timezone


def validate_timezone(value: str) -> None:
    if value not in available_timezones():
        raise ValidationError(f"'{value}' is not an IANA time zone (e.g. Europe/Paris).")


_OID = re.compile(r"^urn:oid:[0-2](\.(0|[1-9][0-9]*))+$")


def validate_identifier_system(value: str) -> None:
    """A FHIR identifier system: an absolute http(s) URL or an OID as `urn:oid:1.2.3`."""
    if value.startswith("urn:"):
        if not _OID.match(value):
            raise ValidationError(f"'{value}' is not an OID URI (e.g. urn:oid:2.16.840.1.113883).")
        return
    try:
        URLValidator(schemes=["http", "https"])(value)
    except ValidationError:
        raise ValidationError(
            f"'{value}' is neither an http(s) URL nor urn:oid:... (the system the hospital "
            "publishes for its MRNs)."
        ) from None


class Clinic(models.Model):
    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=200)
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    digest_hour = models.PositiveSmallIntegerField(
        default=6,
        validators=[MaxValueValidator(23)],
        help_text="Local hour (0-23) from which the nightly digest is sent.",
    )
    escalation_after_minutes = models.PositiveIntegerField(
        default=120,
        help_text="An urgent alert nobody acknowledged in this time is escalated.",
    )
    escalation_email = models.EmailField(
        blank=True, help_text="Where unacknowledged urgent alerts go (e.g. the on-call surgeon)."
    )
    mrn_system = models.CharField(
        "MRN system",
        max_length=255,
        blank=True,
        validators=[validate_identifier_system],
        help_text="The FHIR identifier system of the hospital's medical record numbers "
        "(a URL or urn:oid:...); blank: the service's own.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(digest_hour__lte=23), name="clinic_digest_hour_valid"
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class Role(models.TextChoices):
    VIEWER = "viewer", "Viewer (read only)"
    CLINICIAN = "clinician", "Clinician"
    MANAGER = "manager", "Manager"


class Membership(models.Model):
    """A staff member's role in one clinic; a person may work for several clinics."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role, default=Role.CLINICIAN)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "clinic"], name="membership_unique_user_clinic")
        ]

    def __str__(self) -> str:
        return f"{self.user} @ {self.clinic} ({self.role})"


def _hash_token(token: str) -> str:
    # Tokens are 256 random bits, so a fast hash is enough: nothing to brute-force.
    return hashlib.sha256(token.encode()).hexdigest()


class Scope(models.TextChoices):
    READ = "read", "Read (GET on /api/)"
    WRITE = "write", "Write (POST and PATCH on /api/)"
    FHIR = "fhir", "FHIR R4 (/fhir/r4/)"
    WEBHOOKS = "webhooks", "Manage alert webhooks"


DEFAULT_SCOPES = [Scope.READ, Scope.WRITE, Scope.FHIR]


# Sent inside the revoking transaction; followup disables the client's webhooks.
client_revoked = Signal()

# `last_used_at` is written at most this often per token: one UPDATE a minute, not per request.
LAST_USED_PRECISION = timedelta(minutes=1)


class ApiClient(models.Model):
    """An EHR integration confined to exactly one clinic.

    Its bearer token is stored hashed. Rotating it keeps the previous token valid for
    a changeover period, so the integration can switch without downtime. A token may
    expire (`expires_at`); a revoked or expired token answers 401.
    """

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="api_clients")
    name = models.CharField(max_length=200)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    previous_token_hash = models.CharField(max_length=64, blank=True, editable=False)
    previous_token_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    scopes = ArrayField(models.CharField(max_length=10, choices=Scope), default=list, blank=True)
    rate_limit_per_minute = models.PositiveIntegerField(
        default=600, help_text="Requests per minute before answering 429."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        editable=False,
        related_name="+",
        help_text="The staff member who minted it; empty when made by a command.",
    )
    expires_at = models.DateTimeField(
        null=True, blank=True, help_text="From then on the token answers 401. Empty: never."
    )
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["clinic", "name"], name="apiclient_unique_name")
        ]
        indexes = [
            models.Index(
                fields=["previous_token_hash"],
                condition=~models.Q(previous_token_hash=""),
                name="apiclient_previous_token_idx",
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.clinic.slug})"

    @classmethod
    def issue(
        cls,
        clinic: Clinic,
        name: str,
        scopes: list[str] | None = None,
        created_by=None,
        expires_at=None,
    ) -> tuple["ApiClient", str]:
        """Create a client; the clear token is returned once and never stored."""
        token = secrets.token_urlsafe(32)
        client = cls.objects.create(
            clinic=clinic,
            name=name,
            token_hash=_hash_token(token),
            scopes=list(DEFAULT_SCOPES if scopes is None else scopes),
            created_by=created_by,
            expires_at=expires_at,
        )
        return client, token

    @classmethod
    def authenticate(cls, token: str) -> "ApiClient | None":
        now = timezone.now()
        digest = _hash_token(token)
        current = models.Q(token_hash=digest)
        changeover = models.Q(previous_token_hash=digest, previous_token_expires_at__gt=now)
        unexpired = models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now)
        return (
            cls.objects.select_related("clinic")
            .filter(current | changeover, unexpired, revoked_at__isnull=True)
            .first()
        )

    def rotate(self, changeover: timedelta = timedelta(hours=24)) -> str:
        """A new token; the old one keeps working for `changeover`, then never again.
        A token still in an earlier changeover stops at once: only one old token lives."""
        token = secrets.token_urlsafe(32)
        self.previous_token_hash = self.token_hash
        self.previous_token_expires_at = timezone.now() + changeover
        self.token_hash = _hash_token(token)
        self.save(update_fields=["token_hash", "previous_token_hash", "previous_token_expires_at"])
        return token

    @transaction.atomic
    def revoke(self) -> None:
        """Its tokens answer 401 from now on, and what it set up (its webhooks) stops."""
        self.revoked_at = timezone.now()
        self.save(update_fields=["revoked_at"])
        client_revoked.send(sender=ApiClient, client=self)

    def touch(self, now) -> bool:
        """Record a use, at most once per LAST_USED_PRECISION: the conditional UPDATE lets
        concurrent requests (other workers) race without a second write."""
        if self.last_used_at is not None and self.last_used_at >= now - LAST_USED_PRECISION:
            return False
        stale = models.Q(last_used_at__isnull=True) | models.Q(
            last_used_at__lt=now - LAST_USED_PRECISION
        )
        written = ApiClient.objects.filter(stale, pk=self.pk).update(last_used_at=now)
        if written:
            self.last_used_at = now
        return bool(written)

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes

    @property
    def is_active(self) -> bool:
        """Not revoked (an expired client is still active: it can be revoked, or rotated)."""
        return self.revoked_at is None


class ApiRequest(models.Model):
    """One request of an integration client: who, which endpoint, what answer. No bodies."""

    client = models.ForeignKey(ApiClient, on_delete=models.CASCADE, related_name="requests")
    method = models.CharField(max_length=8)
    endpoint = models.CharField(max_length=200, help_text="The route, without ids or query.")
    status = models.PositiveSmallIntegerField()
    duration_ms = models.PositiveIntegerField()
    at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-at"]
        indexes = [models.Index(fields=["client", "at"], name="apirequest_client_idx")]

    def __str__(self) -> str:
        return f"{self.method} {self.endpoint} {self.status}"
