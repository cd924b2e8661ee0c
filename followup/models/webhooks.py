"""Alert webhooks: the clinics' receivers of alert events, and the log of every attempt."""

import secrets

from django.db import models

from .. import outbound
from .alerts import AlertEvent


class WebhookEndpoint(models.Model):
    """A clinic's receiver of alert events, signed with its secret.

    Events come from the alerts' own history (pghistory's AlertEvent), read in order
    from `last_event_id`: the audit table is the outbox, written in the same
    transaction as the change, so a crash between commit and send loses nothing.
    """

    clinic = models.ForeignKey("patients.Clinic", on_delete=models.CASCADE, related_name="+")
    client = models.ForeignKey(
        "patients.ApiClient",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        editable=False,
        related_name="webhooks",
        help_text="The integration that registered it; revoking that client disables it.",
    )
    # Checked again on every request, on the address actually connected to (outbound.py).
    url = models.URLField(max_length=500, validators=[outbound.validate_url])
    secret = models.CharField(max_length=64, editable=False)
    active = models.BooleanField(default=True)
    last_event_id = models.BigIntegerField(
        default=0, help_text="Events up to this one have been delivered (or given up on)."
    )
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    failing_since = models.DateTimeField(null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(
        default=0,
        editable=False,
        help_text="Failed attempts in a row; from WEBHOOK_BREAKER_THRESHOLD on, the circuit "
        "is open: one trial after the cool-down.",
    )
    # The claim of one delivery run (webhooks.deliver_endpoint): who, and since when. A
    # claim older than webhooks.CLAIM_LEASE belongs to a run that died.
    claimed_by = models.CharField(max_length=32, blank=True, default="", editable=False)
    claimed_at = models.DateTimeField(null=True, blank=True, editable=False)
    in_flight_event_id = models.BigIntegerField(
        null=True,
        blank=True,
        editable=False,
        help_text="Posted, its answer not recorded yet: a run that finds it left by a dead "
        "run logs it as interrupted and sends it again (same X-Followup-Delivery).",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["clinic", "id"]

    def __str__(self) -> str:
        return self.url

    def save(self, *args, **kwargs):
        if self._state.adding:
            # A new receiver starts with what happens from now on, not the whole history:
            # after its own clinic's latest event (the global one would tell every
            # clinic how many alerts the others have).
            self.secret = self.secret or secrets.token_hex(32)
            latest = AlertEvent.objects.filter(pgh_obj__clinic_id=self.clinic_id).aggregate(
                models.Max("pgh_id")
            )["pgh_id__max"]
            self.last_event_id = latest or 0
        super().save(*args, **kwargs)

    def rotate_secret(self) -> str:
        """A new signing secret, in force for the next delivery; the old one stops at once."""
        self.secret = secrets.token_hex(32)
        self.save(update_fields=["secret"])
        return self.secret


class WebhookDelivery(models.Model):
    """One attempt to deliver one event: the delivery log shown in the admin."""

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="log")
    event_id = models.BigIntegerField()
    alert_id = models.BigIntegerField()
    event_type = models.CharField(max_length=40)
    attempt = models.PositiveSmallIntegerField()
    status_code = models.PositiveSmallIntegerField(null=True)
    error = models.TextField(blank=True)
    delivered = models.BooleanField(default=False)
    gave_up = models.BooleanField(default=False)
    duration_ms = models.PositiveIntegerField(default=0)
    at = models.DateTimeField()

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["endpoint", "event_id"], name="webhook_log_idx")]

    def __str__(self) -> str:
        return f"{self.event_type} #{self.event_id} -> {self.status_code or self.error[:30]}"
