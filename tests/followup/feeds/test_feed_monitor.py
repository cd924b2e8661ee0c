"""Feed monitoring (issue 18, item 5): a source silent for HL7_SILENCE_MINUTES of a
working day raises one episode for its clinic's managers (worklist, one e-mail each),
resolved by its next message. The clock is travelled with time-machine, never slept."""

from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.test import Client

from followup import tasks
from followup.feeds.hl7 import processing
from followup.models import Email, EmailKind, FeedSilence, Hl7Source, Subscription
from followup.pipeline import sweep
from patients.models import Role
from tests.conftest import make_staff
from tests.followup.conftest import local

from .messages import adt_a08

# Monday 2 March 2026, Paris; the feed's last message at 06:30.
LAST = local("Europe/Paris", 2026, 3, 2, 6, 30)
SILENT = local("Europe/Paris", 2026, 3, 2, 9, 0)  # 150 minutes later, two after 07:00


@pytest.fixture(autouse=True)
def silence_settings(settings):
    settings.HL7_SILENCE_MINUTES = 120
    settings.FEED_WORKING_DAYS = [1, 2, 3, 4, 5]
    settings.FEED_WORKING_HOURS = (7, 19)


@pytest.fixture
def source(clinic) -> Hl7Source:
    source = Hl7Source.objects.get(clinic=clinic)
    Hl7Source.objects.filter(pk=source.pk).update(
        last_message_at=LAST, created_at=LAST - timedelta(days=30)
    )
    return source


@pytest.fixture
def managers(clinic):
    people = [make_staff(name, clinic, Role.MANAGER) for name in ("mona", "max")]
    for person in people:
        person.email = f"{person.username}@example.org"
        person.save()
    return people


def sweep_at(when):
    with time_machine.travel(when, tick=False):
        return sweep.run()


def notify_at(when):
    with time_machine.travel(when, tick=False):
        return tasks.notify_urgent()


def test_a_silent_feed_raises_one_episode_and_one_email_per_manager(source, managers):
    clerk = make_staff("carl", source.clinic, Role.CLINICIAN)
    clerk.email = "carl@example.org"
    clerk.save()
    assert sweep_at(SILENT).feeds_silent == 1
    assert sweep_at(SILENT + timedelta(minutes=5)).feeds_silent == 0
    episode = FeedSilence.objects.get()
    assert (episode.source, episode.since, episode.raised_at) == (source, LAST, SILENT)
    assert episode.resolved_at is None

    assert notify_at(SILENT + timedelta(minutes=1)) == {"queued": 2, "sent": 2}
    assert notify_at(SILENT + timedelta(minutes=6)) == {"queued": 0, "sent": 0}
    emails = Email.objects.filter(kind=EmailKind.FEED_SILENCE)
    assert sorted(emails.values_list("recipient", flat=True)) == [
        "max@example.org",
        "mona@example.org",
    ]
    assert sorted(m.to[0] for m in mail.outbox) == ["max@example.org", "mona@example.org"]
    message = mail.outbox[0]
    assert message.subject == "[lyon] Hospital feed silent: RAD1"
    body = message.body + message.alternatives[0][0]
    assert "2026-03-02 06:30" in body and "Radiology of Lyon" in body
    # No PHI: the e-mail names the source, never a patient.
    for phi in ("Dupont", "Marie", "M100", "MRN", "Patient"):
        assert phi not in body


def test_a_manager_who_turned_urgent_emails_off_is_not_emailed(source, managers):
    Subscription.objects.create(user=managers[0], clinic=source.clinic, urgent=False)
    sweep_at(SILENT)
    assert notify_at(SILENT + timedelta(minutes=1)) == {"queued": 1, "sent": 1}
    assert [m.to for m in mail.outbox] == [["max@example.org"]]


@pytest.mark.parametrize(
    "when",
    [
        local("Europe/Paris", 2026, 3, 2, 8, 59),  # Monday, not yet 120 minutes of work
        local("Europe/Paris", 2026, 3, 2, 19, 30),  # Monday night
        local("Europe/Paris", 2026, 3, 3, 3, 0),  # Tuesday before dawn
        local("Europe/Paris", 2026, 3, 7, 11, 0),  # Saturday
        local("Europe/Paris", 2026, 3, 8, 15, 0),  # Sunday
    ],
)
def test_nights_weekends_and_the_morning_start_raise_nothing(source, managers, when):
    assert sweep_at(when).feeds_silent == 0
    assert notify_at(when) == {"queued": 0, "sent": 0}
    assert not FeedSilence.objects.exists()


def test_the_clinics_time_zone_decides(source, managers):
    # 09:00 in Paris is 03:00 in New York: night there.
    source.clinic.timezone = "America/New_York"
    source.clinic.save()
    assert sweep_at(SILENT).feeds_silent == 0
    assert sweep_at(local("America/New_York", 2026, 3, 2, 11, 0)).feeds_silent == 1


def test_the_next_message_resolves_the_episode(source, managers):
    sweep_at(SILENT)
    back = SILENT + timedelta(minutes=40)
    with time_machine.travel(back, tick=False):
        processing.process(adt_a08("BACK-1", "M999").encode())
    episode = FeedSilence.objects.get()
    assert episode.resolved_at == back
    # Resolved before the notices went: they are skipped, not sent late.
    assert notify_at(back + timedelta(minutes=1))["sent"] == 0
    assert not mail.outbox
    # Heard from: no new episode until it is silent again.
    assert sweep_at(back + timedelta(minutes=5)).feeds_silent == 0
    assert sweep_at(back + timedelta(minutes=121)).feeds_silent == 1
    assert FeedSilence.objects.filter(resolved_at__isnull=True).get().since == back


def test_the_sweep_resolves_an_episode_whose_source_was_heard_from(source, managers):
    sweep_at(SILENT)
    Hl7Source.objects.filter(pk=source.pk).update(last_message_at=SILENT + timedelta(minutes=3))
    assert sweep_at(SILENT + timedelta(minutes=5)).feeds_heard == 1
    assert FeedSilence.objects.get().resolved_at == SILENT + timedelta(minutes=5)


def test_only_the_clinics_managers_see_it_on_the_worklist(source, managers):
    sweep_at(SILENT)
    clinician = make_staff("carl", source.clinic, Role.CLINICIAN)
    with time_machine.travel(SILENT + timedelta(minutes=1), tick=False):
        pages = {}
        for user in (managers[0], clinician):
            browser = Client()
            browser.force_login(user)
            pages[user.username] = browser.get("/admin/").content.decode()
    assert "Silent hospital feeds (1)" in pages["mona"]
    assert "RAD1 (Radiology of Lyon)" in pages["mona"]
    assert "Silent hospital feeds" not in pages["carl"]
    assert "RAD1" not in pages["carl"]


def test_the_episodes_are_listed_for_managers_only(source, managers):
    sweep_at(SILENT)
    clinician = make_staff("carl", source.clinic, Role.CLINICIAN)
    url = "/admin/followup/feedsilence/"
    browser = Client()
    browser.force_login(managers[0])
    page = browser.get(url)
    assert page.status_code == 200 and "RAD1 (Radiology of Lyon)" in page.content.decode()
    browser.force_login(clinician)
    assert browser.get(url).status_code == 403
