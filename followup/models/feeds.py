"""Hospital feeds: who may send HL7 v2 messages for a clinic, and every message received.

A source is a sending facility (MSH-4) mapped to one clinic. Every message is kept with
its status: (source, MSH-10) is unique, so a message is processed once however often it
is sent, by however many listeners (API_CONTRACT, "Hospital feeds / HL7 v2").
"""

from django.db import models
from django.db.models import Q


class Hl7Source(models.Model):
    clinic = models.ForeignKey("patients.Clinic", on_delete=models.CASCADE, related_name="+")
    facility = models.CharField(
        "sending facility",
        max_length=180,
        unique=True,
        help_text="MSH-4's namespace id, exactly as the hospital's interface engine sends it.",
    )
    name = models.CharField(max_length=200, blank=True)
    last_message_at = models.DateTimeField(null=True, blank=True, editable=False)
    # When the feed-silent alert was raised, and resolved by the next message.
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "HL7 source"
        ordering = ["facility"]

    def __str__(self) -> str:
        return f"{self.facility} ({self.name})" if self.name else self.facility

    @property
    def actor(self) -> str:
        return f"HL7 source {self.facility}"


class Hl7Status(models.TextChoices):
    PROCESSING = "processing"
    PROCESSED = "processed", "Processed (AA)"
    IGNORED = "ignored", "Accepted, nothing to record (AA)"
    ERROR = "error", "Content error (AE)"
    REJECTED = "rejected", "Rejected (AR)"


class Hl7Message(models.Model):
    """One message as received, its parsed summary (no names, no report text), what it
    became. The raw text is kept for replay; it is PHI, shown to the clinic's managers."""

    source = models.ForeignKey(
        Hl7Source, null=True, blank=True, on_delete=models.CASCADE, related_name="messages"
    )
    # The facility as sent, for a message no source maps (an AR).
    facility = models.CharField(max_length=180, blank=True)
    control_id = models.CharField("MSH-10", max_length=199, blank=True)
    message_type = models.CharField(max_length=20, blank=True)
    version = models.CharField(max_length=12, blank=True)
    raw = models.TextField()
    summary = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=12, choices=Hl7Status, default=Hl7Status.PROCESSING)
    ack_code = models.CharField(max_length=2, blank=True)
    error = models.TextField(blank=True)
    # The records it wrote: {"patient": [ids], "exam": [ids], "checkpoint": [ids]}.
    touched = models.JSONField(default=dict, blank=True)
    received_at = models.DateTimeField()
    processed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=1)

    class Meta:
        verbose_name = "HL7 message"
        ordering = ["-received_at", "-id"]
        constraints = [
            # Exactly once: a message already received for this source is that row.
            models.UniqueConstraint(
                fields=["source", "control_id"],
                condition=Q(source__isnull=False),
                name="hl7_message_once_per_source",
            )
        ]
        indexes = [
            models.Index(fields=["received_at"], name="hl7_message_received_idx"),
            models.Index(fields=["source", "status"], name="hl7_message_source_status_idx"),
        ]
        permissions = [("replay_hl7message", "Can replay an HL7 message")]

    def __str__(self) -> str:
        return f"{self.message_type} {self.control_id} ({self.status})"
