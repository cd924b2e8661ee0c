"""E-mail: who wants what, and an outbox that records every message before it is built.

A message's `key` is unique (one digest per clinic, recipient and local day; one
urgent notice per alert and recipient; one escalation per alert), so a second run,
a second beat or a task delivered twice inserts nothing new. Delivery claims rows
with SKIP LOCKED (recording which run claimed them, and when), sends, and marks them
sent, only if the claim is still that run's; an SMTP failure puts the row back with
a later `next_attempt_at` and never marks it sent.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q


class Subscription(models.Model):
    """A staff member's choice, per clinic."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="subscriptions"
    )
    clinic = models.ForeignKey("patients.Clinic", on_delete=models.CASCADE, related_name="+")
    digest = models.BooleanField(default=True, help_text="The nightly digest.")
    urgent = models.BooleanField(default=True, help_text="An e-mail for each urgent alert.")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "clinic"], name="subscription_unique")
        ]

    def __str__(self) -> str:
        return f"{self.user} @ {self.clinic}"


class EmailKind(models.TextChoices):
    DIGEST = "digest"
    URGENT = "urgent", "Urgent alert"
    ESCALATION = "escalation", "Escalation of an unacknowledged urgent alert"
    # To the patient: no clinical data, only a link to their questionnaire.
    PROM_INVITATION = "prom_invite", "Questionnaire invitation (to the patient)"
    PROM_REMINDER = "prom_remind", "Questionnaire reminder (to the patient)"
    FEED_SILENCE = "feed_silence", "A hospital feed has gone silent"


class EmailStatus(models.TextChoices):
    PENDING = "pending"  # recorded, not sent yet (or an attempt failed: see last_error)
    SENDING = "sending"  # claimed by a worker
    SENT = "sent"
    # a digest whose day has passed, an escalation already answered, a reminder of a
    # questionnaire already answered
    SKIPPED = "skipped"


class Email(models.Model):
    key = models.CharField(max_length=120, unique=True)
    kind = models.CharField(max_length=12, choices=EmailKind)
    clinic = models.ForeignKey("patients.Clinic", on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    recipient = models.EmailField()
    alert = models.ForeignKey(
        "followup.Alert", null=True, blank=True, on_delete=models.CASCADE, related_name="emails"
    )
    invitation = models.ForeignKey(
        "followup.PromInvitation",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="emails",
    )
    feed_silence = models.ForeignKey(
        "followup.FeedSilence",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="emails",
    )
    local_date = models.DateField(null=True, blank=True, help_text="A digest's day, locally.")
    status = models.CharField(max_length=8, choices=EmailStatus, default=EmailStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    claimed_at = models.DateTimeField(null=True, blank=True)
    claimed_by = models.CharField(
        max_length=32, blank=True, help_text="The run that claimed it (a token per run)."
    )
    last_error = models.TextField(blank=True)
    subject = models.CharField(max_length=200, blank=True)
    built_at = models.DateTimeField(
        null=True, blank=True, help_text="A digest covers what happened up to this time."
    )
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status__in=["pending", "sending"]),
                name="email_due_idx",
            ),
            models.Index(fields=["clinic", "user", "kind", "sent_at"], name="email_history_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} to {self.recipient} ({self.status})"
