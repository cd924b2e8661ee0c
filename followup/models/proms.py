"""A patient's own questionnaire at a PROM time point: the invitation, its links, the
answers so far.

One live invitation per PROM checkpoint (a unique key: a second run or a second worker
invites nobody twice). Each e-mail (the invitation, each reminder) carries a link of its
own, minted when the e-mail is built; the link's token is signed (Django's signing) and
only its hash is kept, so the database holds nothing that opens the page. Every link of
an invitation dies with it: when the answers are complete, when the window closes
(`expires_at`), or when the follow-up ends (`cancelled_at`).
"""

import hashlib

from django.db import models
from django.db.models import Q

from .checkpoints import Checkpoint


def token_hash(secret: str) -> str:
    """A token's secret part is 256 random bits: a plain SHA-256 is enough (no guessing
    to slow down), and it makes the lookup one index probe."""
    return hashlib.sha256(secret.encode()).hexdigest()


class PromInvitation(models.Model):
    # One live invitation per time point; a cancelled one (the follow-up ended) stays as
    # history, and the time point re-opened gets a new one.
    checkpoint = models.ForeignKey(Checkpoint, on_delete=models.CASCADE, related_name="invitations")
    clinic = models.ForeignKey("patients.Clinic", on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.CASCADE, related_name="prom_invitations"
    )
    language = models.CharField(max_length=8)
    expires_at = models.DateTimeField(help_text="The end of the time point's window.")
    created_at = models.DateTimeField(auto_now_add=True)
    # The questionnaire as asked: the instrument versions, pinned when first opened, and
    # the answers so far ({instrument code: {item code: value}}), saved screen by screen.
    instruments = models.JSONField(default=list, blank=True)
    answers = models.JSONField(default=dict, blank=True)
    position = models.PositiveSmallIntegerField(default=0)
    opened_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    assessment = models.ForeignKey(
        "patients.Assessment", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancel_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["checkpoint"],
                condition=Q(cancelled_at__isnull=True),
                name="prominvitation_one_live_per_checkpoint",
            )
        ]
        indexes = [
            models.Index(
                fields=["expires_at"],
                condition=Q(completed_at__isnull=True, cancelled_at__isnull=True),
                name="prominvitation_pending_idx",
            ),
            models.Index(fields=["patient", "created_at"], name="prominvitation_patient_idx"),
        ]

    def __str__(self) -> str:
        return f"invitation {self.pk} ({self.checkpoint_id})"

    def usable_at(self, now) -> bool:
        return self.completed_at is None and self.cancelled_at is None and now < self.expires_at


class PromLink(models.Model):
    """One e-mail's link: only the hash of its token's secret part."""

    invitation = models.ForeignKey(PromInvitation, on_delete=models.CASCADE, related_name="links")
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"link of invitation {self.invitation_id}"
