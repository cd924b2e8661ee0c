"""The patients' questionnaire invitations and reminders: which are owed (recorded as
`Email` rows with unique keys before anything is built, like queueing.py), and what each
says (built by mailing.py at send time, with a link minted for that e-mail).

Owed, set-based, whatever the number of patients:
- an invitation when a PROM time point's window is open, unanswered and not waived, for
  a patient still followed (`active`) who agreed (`prom_consent`) and has an address:
  one live `PromInvitation` per time point, one e-mail `prom:<invitation>:invite`;
- reminder n (PROM_REMINDER_DAYS[n-1] days after the invitation went) while the answers
  have not arrived and the window is open: `prom:<invitation>:remind<n>`.
At send time the same conditions are checked again: a reminder queued before the answers
arrived is skipped, never sent (mailing.py).

The e-mail names no patient, no surgery and no date of care: the clinic, the link, and
when it expires. The link's token is signed with Django's signing (salted for this use);
only the SHA-256 of its random part is stored (models/proms.py).
"""

import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.core import signing
from django.db.models import Exists, OuterRef
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from followup.models import (
    Checkpoint,
    CheckpointKind,
    Email,
    EmailKind,
    EmailStatus,
    PromInvitation,
    PromLink,
)
from followup.models.proms import token_hash
from patients.models import Clinic, FollowupStatus

SALT = "followup.proms.link"
SIGNER = signing.Signer(salt=SALT)

# A patient who may be asked: followed, agreed, reachable.
ASKABLE = {"followup_status": FollowupStatus.ACTIVE, "prom_consent": True}


def _askable(prefix: str) -> dict:
    return {f"{prefix}{name}": value for name, value in ASKABLE.items()}


def _record(rows: list[Email]) -> int:
    known = set(
        Email.objects.filter(key__in=[row.key for row in rows]).values_list("key", flat=True)
    )
    rows = [row for row in rows if row.key not in known]
    Email.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def queue_invitations(now: datetime) -> int:
    """Invite for every PROM window open now; returns the e-mails queued."""
    opened = (
        Checkpoint.objects.filter(
            kind=CheckpointKind.PROM, opens_at__lte=now, due_at__gt=now,
            answered_by__isnull=True, waived_at__isnull=True, **_askable("patient__"),
        )
        .exclude(Exists(PromInvitation.objects.filter(checkpoint=OuterRef("pk"),
                                                      cancelled_at__isnull=True)))
        .exclude(patient__email="")
        .values_list("pk", "clinic_id", "patient_id", "due_at", "patient__preferred_language")
    )  # fmt: skip
    PromInvitation.objects.bulk_create(
        [
            PromInvitation(checkpoint_id=pk, clinic_id=clinic_id, patient_id=patient_id,
                           expires_at=due_at, language=language)
            for pk, clinic_id, patient_id, due_at, language in opened
        ],
        ignore_conflicts=True,  # a second run at once: one invitation per time point
    )  # fmt: skip
    not_mailed = (
        PromInvitation.objects.filter(
            completed_at__isnull=True, cancelled_at__isnull=True, expires_at__gt=now,
            **_askable("patient__"),
        )
        .exclude(Exists(Email.objects.filter(invitation=OuterRef("pk"),
                                             kind=EmailKind.PROM_INVITATION)))
        .exclude(patient__email="")
        .values_list("pk", "clinic_id", "patient__email")
    )  # fmt: skip
    return _record(
        [
            Email(key=f"prom:{pk}:invite", kind=EmailKind.PROM_INVITATION,
                  clinic_id=clinic_id, invitation_id=pk, recipient=address,
                  next_attempt_at=now)
            for pk, clinic_id, address in not_mailed
        ]
    )  # fmt: skip


def queue_reminders(now: datetime) -> int:
    """Reminder n for every invitation sent PROM_REMINDER_DAYS[n-1] days ago or more and
    still unanswered, its window open; returns the e-mails queued."""
    rows = []
    for n, days in enumerate(settings.PROM_REMINDER_DAYS, start=1):
        invited = Email.objects.filter(
            invitation=OuterRef("pk"), kind=EmailKind.PROM_INVITATION,
            sent_at__lte=now - timedelta(days=days),
        )  # fmt: skip
        due = (
            PromInvitation.objects.filter(
                Exists(invited), completed_at__isnull=True, cancelled_at__isnull=True,
                expires_at__gt=now, checkpoint__answered_by__isnull=True,
                **_askable("patient__"),
            )
            .exclude(patient__email="")
            .values_list("pk", "clinic_id", "patient__email")
        )  # fmt: skip
        rows += [
            Email(key=f"prom:{pk}:remind{n}", kind=EmailKind.PROM_REMINDER,
                  clinic_id=clinic_id, invitation_id=pk, recipient=address,
                  next_attempt_at=now)
            for pk, clinic_id, address in due
        ]  # fmt: skip
    return _record(rows)


def queue_proms(now: datetime) -> int:
    return queue_invitations(now) + queue_reminders(now)


def why_not_send(invitation: PromInvitation, now: datetime) -> str | None:
    """Checked again right before sending: what makes this e-mail pointless, if anything."""
    if invitation.completed_at is not None or invitation.checkpoint.answered_by_id:
        return "Answered before it was sent."
    if invitation.cancelled_at is not None:
        return f"Invitation cancelled: {invitation.cancel_reason}"
    if now >= invitation.expires_at:
        return "The questionnaire's window closed before it was sent."
    patient = invitation.patient
    if any(getattr(patient, name) != value for name, value in ASKABLE.items()):
        return "The patient is no longer to be asked (follow-up status or consent)."
    if not patient.email:
        return "The patient has no e-mail address any more."
    return None


def mint_link(invitation: PromInvitation) -> str:
    """A new link for one e-mail: the signed token goes in the e-mail, its hash here."""
    secret = secrets.token_urlsafe(32)
    PromLink.objects.create(invitation=invitation, token_hash=token_hash(secret))
    return settings.SITE_URL + reverse("proms:open", args=[SIGNER.sign(secret)])


def secret_of(token: str) -> str | None:
    """The random part of a link's token, or None when the signature is not ours (a
    tampered or made-up link)."""
    try:
        return SIGNER.unsign(token)
    except signing.BadSignature:
        return None


def render(invitation: PromInvitation, clinic: Clinic, kind: str) -> tuple[str, str, str]:
    """Subject, text and HTML of an invitation or reminder, in the patient's language."""
    with translation.override(invitation.language):
        expires = timezone.localtime(invitation.expires_at, clinic.zone) - timedelta(seconds=1)
        context = {
            "clinic": clinic.name,
            "url": mint_link(invitation),
            "expires": expires.date(),
            "reminder": kind == EmailKind.PROM_REMINDER,
        }
        if kind == EmailKind.PROM_REMINDER:
            subject = _("Reminder: your questionnaire from %(clinic)s") % context
        else:
            subject = _("Your questionnaire from %(clinic)s") % context
        return (
            " ".join(subject.split()),
            render_to_string("followup/email/prom.txt", context),
            render_to_string("followup/email/prom.html", context),
        )


SKIPPED = EmailStatus.SKIPPED
PROM_KINDS = (EmailKind.PROM_INVITATION, EmailKind.PROM_REMINDER)
