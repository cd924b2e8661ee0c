"""FHIR Subscriptions (R4 Subscriptions Backport IG): an API client's receiver of the
notifications of one topic, over its clinic's alerts' history.

Not the staff's e-mail `Subscription` (notifications.py): this one belongs to an
integration client, is created through `/fhir/r4/Subscription`, and is delivered by
followup/delivery/subscriptions.py through the one outbox, as the webhooks are.
"""

import secrets

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q

from .. import outbound
from .alerts import AlertEvent


class FhirTopic(models.TextChoices):
    """The SubscriptionTopics this server offers (canonical URLs: followup/fhir/topics.py)."""

    ALERT = "alert", "An alert was raised or changed state"
    CHECKPOINT_OVERDUE = "checkpoint-overdue", "A checkpoint became overdue"


class FhirSubscriptionStatus(models.TextChoices):
    """FHIR's subscription-status codes: `requested` until the handshake is answered 2xx,
    `error` while the receiver fails, `off` once deleted."""

    REQUESTED = "requested"
    ACTIVE = "active"
    ERROR = "error"
    OFF = "off"


class PayloadContent(models.TextChoices):
    """The backport IG's `backport-payload-content` codes this server sends."""

    ID_ONLY = "id-only"
    FULL_RESOURCE = "full-resource"


class FhirSubscription(models.Model):
    clinic = models.ForeignKey("patients.Clinic", on_delete=models.CASCADE, related_name="+")
    client = models.ForeignKey(
        "patients.ApiClient",
        on_delete=models.CASCADE,
        related_name="fhir_subscriptions",
        help_text="The integration that created it: only it sees it; revoking it stops it.",
    )
    topic = models.CharField(max_length=40, choices=FhirTopic)
    # The `_criteria` filter: only this patient's notifications (None: the whole clinic).
    # A plain id, not a foreign key: a deleted patient leaves a filter that matches
    # nothing, never one that widens to the clinic.
    patient_id = models.BigIntegerField(null=True, blank=True)
    status = models.CharField(
        max_length=10, choices=FhirSubscriptionStatus, default=FhirSubscriptionStatus.REQUESTED
    )
    reason = models.CharField(max_length=500, blank=True)
    # Checked again on every request, on the address actually connected to (outbound.py).
    endpoint = models.URLField(max_length=500, validators=[outbound.validate_url])
    content = models.CharField(
        max_length=16, choices=PayloadContent, default=PayloadContent.ID_ONLY
    )
    headers = ArrayField(models.CharField(max_length=1000), default=list, blank=True)
    heartbeat_period = models.PositiveIntegerField(
        null=True, blank=True, help_text="Seconds; a heartbeat when nothing else was sent."
    )
    secret = models.CharField(max_length=64, editable=False)
    # Bookkeeping of the channel (delivery/subscriptions.py).
    handshake_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_event_id = models.BigIntegerField(
        default=0, help_text="Alert events up to this one were notified (or are not its topic's)."
    )
    events_since_start = models.BigIntegerField(
        default=0, help_text="Event notifications delivered: the last one's eventNumber."
    )
    last_sent_at = models.DateTimeField(null=True, blank=True, editable=False)
    in_flight_event_id = models.BigIntegerField(null=True, blank=True, editable=False)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    failing_since = models.DateTimeField(null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0, editable=False)
    last_error = models.CharField(max_length=200, blank=True, editable=False)
    claimed_by = models.CharField(max_length=32, blank=True, default="", editable=False)
    claimed_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["clinic", "id"]
        indexes = [
            # What a delivery run scans: the subscriptions not turned off.
            models.Index(
                fields=["next_attempt_at"], condition=~Q(status="off"), name="fhirsub_live_idx"
            )
        ]

    def __str__(self) -> str:
        return f"{self.topic} -> {self.endpoint}"

    def save(self, *args, **kwargs):
        if self._state.adding:
            # What happens from now on, not the history; after the clinic's own latest
            # event (the global one would tell a client how many alerts others have).
            self.secret = self.secret or secrets.token_hex(32)
            latest = AlertEvent.objects.filter(pgh_obj__clinic_id=self.clinic_id).aggregate(
                models.Max("pgh_id")
            )["pgh_id__max"]
            self.last_event_id = latest or 0
        super().save(*args, **kwargs)
