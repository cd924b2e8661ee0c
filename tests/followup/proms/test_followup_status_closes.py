"""A follow-up that ends closes everything pending (checkpoints, PROM time points,
invitations, overdue alerts) with the reason; set active again, it is planned again."""

import time_machine

from followup.delivery import mailing
from followup.models import Alert, AlertStatus, Checkpoint, Email, EmailKind, PromInvitation
from followup.pipeline import refresh, sweep

from ..conftest_mail import smtp_server  # noqa: F401 (a fixture)
from .helpers import day, operated


def test_a_status_change_closes_everything_and_active_again_re_plans(protocols, paris, smtp):
    patient, surgery = operated(paris)
    with time_machine.travel(day(50), tick=False):
        sweep.run(day(50))  # the baseline film is overdue: its alert is raised
        mailing.queue_proms(day(50))
        mailing.deliver(day(50), mailing.PROMS)
    assert Alert.objects.filter(code="checkpoint_overdue", status=AlertStatus.OPEN).count() == 1
    assert len(smtp.received_by(patient.email)) == 1

    with time_machine.travel(day(51), tick=False):
        patient.followup_status = "lost"
        patient.followup_status_reason = "moved abroad, no answer"
        patient.save()
        refresh.refresh(surgery.pk, day(51))

    pending = Checkpoint.objects.filter(surgery=surgery).exclude(kind="milestone")
    assert all(c.waived_at and c.not_applicable for c in pending)
    assert set(pending.values_list("waived_reason", flat=True)) == {
        "Not applicable: follow-up ended: patient lost to follow-up (moved abroad, no answer)."
    }
    invitation = PromInvitation.objects.get()
    assert invitation.cancelled_at and invitation.cancel_reason.startswith("Not applicable")
    alert = Alert.objects.get(code="checkpoint_overdue")
    assert alert.status == AlertStatus.RESOLVED and "lost to follow-up" in alert.resolution_note
    # No reminder, no new invitation, no overdue alert while it lasts.
    for n in (54, 60, 80):
        with time_machine.travel(day(n), tick=False):
            mailing.queue_proms(day(n))
            mailing.deliver(day(n), mailing.PROMS)
            sweep.run(day(n))
    assert len(smtp.received_by(patient.email)) == 1
    assert not Alert.objects.filter(status=AlertStatus.OPEN).exists()

    with time_machine.travel(day(81), tick=False):
        patient.followup_status = "active"
        patient.followup_status_reason = ""
        patient.save()
        refresh.refresh(surgery.pk, day(81))
        sweep.run(day(81))
        mailing.queue_proms(day(81))
        mailing.deliver(day(81), mailing.PROMS)

    reopened = Checkpoint.objects.filter(surgery=surgery).exclude(kind="milestone")
    assert not any(c.waived_at or c.not_applicable for c in reopened)
    # The baseline film is overdue again, and alerts again; the 3-month PROM (open since
    # day 75) gets a new invitation; the cancelled one stays as history.
    assert Alert.objects.filter(code="checkpoint_overdue", status=AlertStatus.OPEN).exists()
    assert PromInvitation.objects.count() == 2
    assert Email.objects.filter(kind=EmailKind.PROM_INVITATION).count() == 2
    assert len(smtp.received_by(patient.email)) == 2


def test_a_waiver_made_by_staff_is_not_undone_by_re_activation(protocols, paris):
    from followup.pipeline import waivers

    patient, surgery = operated(paris)
    film = Checkpoint.objects.get(surgery=surgery, code="bridging_film")
    waivers.waive(film, "CT done elsewhere", None, day(10))
    for status in ("declined", "active"):
        patient.followup_status = status
        patient.save()
        refresh.refresh(surgery.pk, day(11))
    film.refresh_from_db()
    assert film.waived_reason == "CT done elsewhere" and not film.not_applicable
