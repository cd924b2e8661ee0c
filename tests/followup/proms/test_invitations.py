"""Invitations and reminders through the one outbox, to a real SMTP server: when a PROM
window opens, exactly once; reminders after 3 and 7 days; none after the answers; no
clinical data and no identifier of the patient in the e-mail."""

from datetime import timedelta

import time_machine
from django.test import Client

from followup.delivery import mailing
from followup.models import Email, EmailKind, EmailStatus, PromInvitation, PromLink
from followup.models.proms import token_hash
from patients.models import Assessment

from ..conftest_mail import smtp_server  # noqa: F401 (a fixture)
from .helpers import day, link_in, operated, time_point


def run(at) -> int:
    """What the beat's task does, at `at`."""
    with time_machine.travel(at, tick=False):
        mailing.queue_proms(at)
        return mailing.deliver(at, mailing.PROMS)


def test_the_window_opening_sends_one_invitation_with_a_link_and_no_clinical_data(
    protocols, paris, smtp
):
    patient, surgery = operated(paris, mrn="MRN-77", family_name="Martin", given_name="Lea")
    run(day(34))  # the 6-week window opens on day 35
    assert smtp.received_by(patient.email) == []

    run(day(35))
    run(day(35, hours=11))  # a second run, and a second beat: nothing new
    mailing.queue_proms(day(35, hours=12))

    [message] = smtp.received_by(patient.email)
    assert message["Subject"] == "Your questionnaire from Paris"
    link = link_in(message)
    # The link's last segment is random (it may spell "L4" by chance): look around it.
    token = link.rstrip("/").rsplit("/", 1)[1]
    body = message.get_body(preferencelist=("plain",)).get_content().replace(token, "<token>")
    for clinical in ("MRN-77", "Martin", "Lea", "tlif", "TLIF", "fusion", "L4", "surgery",
                     "6 weeks", "pain"):  # fmt: skip
        assert clinical not in body and clinical not in link.replace(token, "<token>")
        assert clinical not in message["Subject"]
    invitation = PromInvitation.objects.get(checkpoint=time_point(surgery, "prom_6w"))
    # Only the hash of the token's random part is stored: the link is nowhere in the database.
    secret = link.rstrip("/").rsplit("/", 1)[1].split(":")[0]
    assert PromLink.objects.get(invitation=invitation).token_hash == token_hash(secret)
    assert secret not in str(list(Email.objects.values()))


def test_a_french_patient_gets_a_french_e_mail(protocols, paris, smtp):
    patient, _ = operated(paris, language="fr")
    run(day(36))
    [message] = smtp.received_by(patient.email)
    assert message["Subject"] == "Votre questionnaire de Paris"
    assert "Répondre au questionnaire" in message.get_body(preferencelist=("html",)).get_content()


def test_no_consent_no_address_or_an_ended_follow_up_no_invitation(protocols, paris, smtp):
    declined, _ = operated(paris, email="a@example.net")
    declined.prom_consent = False
    declined.save()
    operated(paris, email="")
    ended, _ = operated(paris, email="c@example.net")
    ended.followup_status = "lost"
    ended.save()
    run(day(40))
    assert smtp.messages == []
    assert not PromInvitation.objects.exists()


def test_reminders_after_3_and_7_days_then_none(protocols, paris, smtp):
    patient, _surgery = operated(paris)
    run(day(35))
    run(day(37))
    assert len(smtp.received_by(patient.email)) == 1
    run(day(38))
    run(day(42))
    messages = smtp.received_by(patient.email)
    assert [m["Subject"] for m in messages] == [
        "Your questionnaire from Paris",
        "Reminder: your questionnaire from Paris",
        "Reminder: your questionnaire from Paris",
    ]
    assert len({link_in(m) for m in messages}) == 3  # one link per e-mail
    run(day(50))
    assert len(smtp.received_by(patient.email)) == 3


def test_no_reminder_after_the_answers_even_one_already_queued(protocols, paris, smtp):
    patient, surgery = operated(paris)
    run(day(35))
    # Day 38: the reminder is queued (the beat ran), then the patient answers before it goes.
    with time_machine.travel(day(38), tick=False):
        assert mailing.queue_proms(day(38)) == 1
        Assessment.objects.create(patient=patient, surgery=surgery, assessed_at=day(38),
                                  nrs_back=2)  # fmt: skip
        PromInvitation.objects.filter(checkpoint__surgery=surgery).update(completed_at=day(38))
        mailing.deliver(day(38), mailing.PROMS)
    for later in (39, 42, 45, 55):
        run(day(later))
    assert len(smtp.received_by(patient.email)) == 1
    reminder = Email.objects.get(kind=EmailKind.PROM_REMINDER)
    assert reminder.status == EmailStatus.SKIPPED
    assert reminder.last_error == "Answered before it was sent."


def test_the_link_opens_the_questionnaire_once_and_never_after_completion(protocols, paris, smtp):
    patient, _surgery = operated(paris)
    run(day(35))
    link = link_in(smtp.received_by(patient.email)[0])
    path = link.split("://", 1)[1].split("/", 1)[1]
    browser = Client()
    with time_machine.travel(day(36), tick=False):
        opened = browser.get(f"/{path}")
        assert opened.status_code == 302 and opened["Location"] == "/p/"
        invitation = PromInvitation.objects.get()
        invitation.completed_at = day(36)
        invitation.save()
        assert Client().get(f"/{path}").status_code == 404
        assert browser.get("/p/").status_code == 404


def test_an_invitation_is_not_sent_once_the_window_closed(protocols, paris, smtp):
    patient, _surgery = operated(paris)
    with time_machine.travel(day(35), tick=False):
        mailing.queue_proms(day(35))  # queued, then SMTP was down for a month
    run(day(35) + timedelta(days=30))
    assert smtp.received_by(patient.email) == []
    assert Email.objects.get(kind=EmailKind.PROM_INVITATION).status == EmailStatus.SKIPPED
