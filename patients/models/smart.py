"""The parties that authenticate with signed JWTs instead of a bearer token: SMART Backend
Services clients (their public keys, the short-lived access tokens issued to them) and the
EHRs that call the CDS Hooks service; and the JWT ids already seen (replay protection).

Each of them acts, once authenticated, as its own `ApiClient` row (`identity`): one clinic,
scopes, rate limit, request log, read audit, audit context and revocation work exactly as
for a bearer-token integration, and nothing downstream needs to know which kind called.
The identity's own bearer token is never shown to anyone (it is minted and thrown away),
so the only way in as that identity is the signed JWT."""

import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.utils import timezone
from jwt import PyJWK, PyJWTError

from .tenancy import ApiClient, Clinic, Scope, _hash_token

# What a client's assertion and an EHR's CDS Hooks JWT may be signed with (SMART App Launch
# v2, backend services: "SHALL support RS384 and ES384"; CDS Hooks 2.0 likewise). Never a
# symmetric algorithm, never "none".
JWT_ALGORITHMS = ("RS384", "ES384")
_KEY_TYPE = {"RS384": "RSA", "ES384": "EC"}
_PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")
MIN_RSA_BITS = 2048

# What a SMART client may be allowed (FHIR is implied: SMART scopes are FHIR scopes).
SMART_SCOPES = [Scope.READ, Scope.WRITE]


def validate_jwks(value) -> None:
    """A JWK Set of public RSA (2048 bits or more) or EC P-384 keys, each with a `kid`."""
    keys = value.get("keys") if isinstance(value, dict) else None
    if not isinstance(keys, list) or not keys:
        raise ValidationError('A JWK Set is {"keys": [...]} with at least one key.')
    for key in keys:
        if not isinstance(key, dict):
            raise ValidationError("Each key of the set is a JSON object (a JWK).")
        if any(member in key for member in _PRIVATE_MEMBERS):
            raise ValidationError("Private or symmetric key material: register public keys only.")
        algorithm = {"RSA": "RS384", "EC": "ES384"}.get(key.get("kty"))
        if algorithm is None:
            raise ValidationError("Only RSA (RS384) and EC P-384 (ES384) keys are accepted.")
        if key.get("kty") == "EC" and key.get("crv") != "P-384":
            raise ValidationError("An EC key must be on the P-384 curve (ES384).")
        if not isinstance(key.get("kid"), str) or not key["kid"]:
            raise ValidationError("Each key needs a `kid` (the JWT header names it).")
        try:
            jwk = PyJWK(key, algorithm)
        except PyJWTError:
            raise ValidationError(f"Key {key['kid']!r} is not a usable public key.") from None
        if key.get("kty") == "RSA" and jwk.key.key_size < MIN_RSA_BITS:
            raise ValidationError(f"Key {key['kid']!r}: an RSA key needs {MIN_RSA_BITS} bits.")


def _keys(jwks: dict | None, jwks_url: str) -> dict:
    """A registration's keys: a valid JWK Set, or none yet when they come from a URL."""
    if jwks:
        validate_jwks(jwks)
        return jwks
    if not jwks_url:
        raise ValidationError("Give its public keys: a JWK Set, or the URL it publishes.")
    return {}


def _identity(clinic: Clinic, label: str, scopes: list[str], created_by) -> ApiClient:
    """The ApiClient the party acts as; its bearer token is discarded unseen."""
    client, _token = ApiClient.issue(clinic, label, scopes=scopes, created_by=created_by)
    return client


class JwtParty(models.Model):
    """What a SMART client and a CDS Hooks EHR have in common: a clinic, public keys, the
    ApiClient they act as, who registered them and when they stop."""

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=150)
    jwks = models.JSONField(
        default=dict,
        blank=True,
        validators=[validate_jwks],
        help_text='Public keys, as a JWK Set: {"keys": [{"kty": "RSA", "kid": ..., ...}]}; '
        "with a JWK Set URL, the copy last fetched from it.",
    )
    jwks_url = models.URLField(
        "JWK Set URL",
        max_length=500,
        blank=True,
        help_text="Where it publishes its public keys (https), instead of registering them: "
        "fetched at registration, then every few minutes (followup/jwks.py).",
    )
    jwks_fetched_at = models.DateTimeField(null=True, blank=True, editable=False)
    jwks_error = models.CharField(max_length=200, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        editable=False,
        related_name="+",
        help_text="The manager who registered it; empty when made by a command.",
    )
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.name} ({self.clinic.slug})"

    @transaction.atomic
    def revoke(self) -> None:
        """Refused from now on; its identity is revoked too (its webhooks stop)."""
        self.revoked_at = timezone.now()
        self.save(update_fields=["revoked_at"])
        if self.identity.revoked_at is None:
            self.identity.revoke()


class SmartClient(JwtParty):
    """A SMART Backend Services client of one clinic: it proves who it is with a JWT signed
    by a key of its JWK Set, and gets short-lived access tokens (SmartAccessToken)."""

    client_id = models.CharField(max_length=64, unique=True, editable=False)
    scopes = ArrayField(
        models.CharField(max_length=10, choices=Scope),
        default=list,
        help_text="What its tokens may be granted: read (system/*.rs) and/or write (.cud).",
    )
    identity = models.OneToOneField(
        ApiClient, on_delete=models.PROTECT, related_name="smart_client", editable=False
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["clinic", "name"], name="smartclient_unique_name")
        ]

    @classmethod
    @transaction.atomic
    def register(
        cls, clinic: Clinic, name: str, jwks: dict | None, scopes=None, created_by=None,
        jwks_url: str = "",
    ) -> "SmartClient":  # fmt: skip
        jwks = _keys(jwks, jwks_url)
        allowed = [s for s in (scopes if scopes is not None else [Scope.READ]) if s in SMART_SCOPES]
        identity = _identity(clinic, f"SMART: {name}", [*allowed, Scope.FHIR], created_by)
        return cls.objects.create(
            clinic=clinic,
            name=name,
            jwks=jwks,
            jwks_url=jwks_url,
            scopes=allowed,
            identity=identity,
            client_id=secrets.token_urlsafe(24),
            created_by=created_by,
        )


class CdsHooksClient(JwtParty):
    """An EHR calling the CDS Hooks service for one clinic: the `iss` of its JWTs, and the
    public keys they are signed with."""

    iss = models.CharField(
        "issuer (iss)",
        max_length=255,
        unique=True,
        help_text="The `iss` claim of the EHR's CDS Hooks JWTs (usually its base URL).",
    )
    identity = models.OneToOneField(
        ApiClient, on_delete=models.PROTECT, related_name="cds_hooks_client", editable=False
    )

    class Meta:
        verbose_name = "CDS Hooks client"
        constraints = [
            models.UniqueConstraint(fields=["clinic", "name"], name="cdshooksclient_unique_name")
        ]

    @classmethod
    @transaction.atomic
    def register(cls, clinic: Clinic, name: str, iss: str, jwks: dict | None, created_by=None,
                 jwks_url: str = ""):  # fmt: skip
        jwks = _keys(jwks, jwks_url)
        # No scope: the identity opens nothing of /api/ or /fhir/, only the hooks.
        identity = _identity(clinic, f"CDS Hooks: {name}", [], created_by)
        return cls.objects.create(
            clinic=clinic,
            name=name,
            iss=iss,
            jwks=jwks,
            jwks_url=jwks_url,
            identity=identity,
            created_by=created_by,
        )


class SmartAccessToken(models.Model):
    """A short-lived bearer token issued to a SMART client, stored hashed. `scope` is what
    was granted, in SMART syntax; `scopes` the client scopes it opens (read, write, fhir)."""

    client = models.ForeignKey(SmartClient, on_delete=models.CASCADE, related_name="tokens")
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    scope = models.TextField()
    scopes = ArrayField(models.CharField(max_length=10, choices=Scope), default=list)
    issued_at = models.DateTimeField()
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"token of {self.client} until {self.expires_at:%Y-%m-%d %H:%M}"

    @classmethod
    def issue(
        cls, client: SmartClient, scope: str, scopes: list[str], lifetime: timedelta
    ) -> tuple["SmartAccessToken", str]:
        token = secrets.token_urlsafe(32)
        now = timezone.now()
        # The client's expired tokens go as it gets a new one: the table stays small.
        cls.objects.filter(client=client, expires_at__lte=now).delete()
        row = cls.objects.create(
            client=client,
            token_hash=_hash_token(token),
            scope=scope,
            scopes=scopes,
            issued_at=now,
            expires_at=now + lifetime,
        )
        return row, token

    @classmethod
    def authenticate(cls, token: str) -> "SmartAccessToken | None":
        """The live token, its client neither revoked nor its identity."""
        return (
            cls.objects.select_related("client__identity__clinic")
            .filter(
                token_hash=_hash_token(token),
                expires_at__gt=timezone.now(),
                client__revoked_at__isnull=True,
                client__identity__revoked_at__isnull=True,
            )
            .first()
        )


class SeenJwt(models.Model):
    """A JWT id (`jti`) already used by an issuer, kept until the JWT expires: the unique
    constraint refuses a second use, whichever worker sees it."""

    issuer = models.CharField(max_length=300, help_text="`smart:<client_id>` or `cds:<iss>`.")
    jti = models.CharField(max_length=255)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        verbose_name = "seen JWT id"
        constraints = [
            models.UniqueConstraint(fields=["issuer", "jti"], name="seenjwt_unique_issuer_jti")
        ]

    def __str__(self) -> str:
        return f"{self.issuer} {self.jti}"

    @classmethod
    def first_use(cls, issuer: str, jti: str, expires_at: datetime) -> bool:
        """Record the JWT id; False if it was seen before (a replay)."""
        cls.objects.filter(issuer=issuer, expires_at__lt=timezone.now()).delete()
        try:
            with transaction.atomic():  # a savepoint: the request's transaction goes on
                cls.objects.create(issuer=issuer, jti=jti, expires_at=expires_at)
        except IntegrityError:
            return False
        return True
