"""The nightly digest, through a real SMTP server: what it says, and that it goes once.

One e-mail per subscriber, clinic and local day, from the clinic's digest hour; an
SMTP outage delays it, a crash never doubles it, a day that has passed skips it.
"""

import os
import subprocess
import sys
from datetime import date, timedelta

import pytest
import time_machine
from django.conf import settings
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from followup import tasks
from followup.delivery import mailing
from followup.models import Checkpoint, CheckpointKind, Email, EmailStatus, Severity
from followup.models.alerts import AlertCode, AlertStatus
from patients.models import Clinic, Membership
from tests import factories
from tests.smtp import text_and_html
from tests.worker import ROOT, database_url

from ..conftest import local
from ..conftest_mail import raise_alert, smtp_server, subscriber  # noqa: F401 (a fixture)

T0 = local("Europe/Paris", 2026, 3, 2, 7, 0)  # the clinic's digest hour is 6
WORKLIST = "/admin/followup/alert/"
NAMES = ("Dupontel", "Marguerite", "Wexford", "Sylvain", "Trelawney", "Theo")
SECRET_REPORT = "Dictated report: solid fusion, patient anxious about her sister."


@pytest.fixture
def clock(smtp, db):  # the SMTP server starts before time stands still
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


@pytest.fixture
def clinic(db) -> Clinic:
    return Clinic.objects.create(slug="lyon", name="Lyon", timezone="Europe/Paris", digest_hour=6)


def send(clock, at) -> dict:
    clock.move_to(at)
    return tasks.send_digests()


def checkpoint(patient, label, due_at, kind=CheckpointKind.EXAM, **fields) -> Checkpoint:
    return Checkpoint.objects.create(
        clinic=patient.clinic,
        patient=patient,
        code=label.lower().replace(" ", "_"),
        label=label,
        kind=kind,
        opens_at=due_at - timedelta(days=14),
        due_at=due_at,
        overdue_at=fields.pop("overdue_at", due_at + timedelta(days=7)),
        **fields,
    )


def section(text: str, start: str, end: str) -> str:
    return text[text.index(start) : text.index(end)]


# --- What it says ---------------------------------------------------------------------


def test_the_digest_says_what_needs_doing_with_mrn_and_initials_only(smtp, clock, clinic):
    alice = subscriber(clinic, "alice")
    clock.move_to(T0 - timedelta(days=1))
    marguerite = factories.patient(
        clinic, mrn="D-001", family_name="Dupontel", given_name="Marguerite",
        birth_date=date(1950, 4, 3),
    )  # fmt: skip
    sylvain = factories.patient(clinic, mrn="D-002", family_name="Wexford", given_name="Sylvain")
    theo = factories.patient(clinic, mrn="D-003", family_name="Trelawney", given_name="Theo")
    quiet = factories.patient(clinic, mrn="D-004", family_name="Oakhurst", given_name="Ines")
    exam = factories.exam(marguerite, modality="MR", report=SECRET_REPORT)
    raise_alert(marguerite, Severity.URGENT, AlertCode.ABSCESS, exam=exam,
                message="Abscess at L4-L5.")  # fmt: skip
    raise_alert(sylvain, Severity.HIGH, message="Screw lucency 2.5 mm at L5, left.")
    raise_alert(theo, Severity.WARNING, AlertCode.ADJACENT_SEGMENT, message="Adjacent segment.")
    raise_alert(quiet, Severity.HIGH, status=AlertStatus.RESOLVED, message="Long gone.")
    checkpoint(sylvain, "Baseline film", T0 - timedelta(days=9),
               overdue_at=T0 - timedelta(days=2), overdue_since=T0 - timedelta(days=2))  # fmt: skip
    checkpoint(theo, "Bridging film", T0 + timedelta(days=3))
    checkpoint(theo, "Fusion film", T0 + timedelta(days=20))
    checkpoint(marguerite, "One year review", T0 + timedelta(days=10), CheckpointKind.MILESTONE)
    checkpoint(quiet, "Six month review", T0 + timedelta(days=10), CheckpointKind.MILESTONE)

    assert send(clock, T0) == {"queued": 1, "sent": 1}

    (message,) = smtp.messages
    assert message["To"] == alice.email
    assert message["Subject"] == "[lyon] Follow-up digest 2026-03-02: 3 open alert(s)"
    assert message["Message-ID"].startswith("<digest")
    assert message["Message-ID"].endswith("@followup>")
    text, html = text_and_html(message)
    assert html is not None

    assert "NEW ALERTS: 3" in text
    still_open = section(text, "STILL OPEN", "CHECKPOINTS THAT BECAME OVERDUE")
    assert still_open.index("URGENT (1)") < still_open.index("HIGH (1)")
    assert still_open.index("HIGH (1)") < still_open.index("WARNING (1)")
    assert "Abscess at L4-L5. - D-001 (MD)" in still_open
    assert "CHECKPOINTS THAT BECAME OVERDUE: 1\n- Baseline film - D-002 (SW)" in text
    assert "DUE IN THE NEXT 7 DAYS: 1\n- Bridging film - D-003 (TT)" in text
    milestones = section(text, "MILESTONES IN THE NEXT 14 DAYS", "Worklist")
    assert "One year review - D-001 (MD)" in milestones
    assert "Six month review" not in text  # that patient has no open question
    assert "Fusion film" not in text  # due in 20 days
    assert "Long gone" not in text  # resolved

    for heading in ("New alerts", "Still open, by severity", "became overdue",
                    "Due in the next 7 days", "Milestones in the next 14 days"):  # fmt: skip
        assert heading in html
    for reference in ("D-001 (MD)", "D-002 (SW)", "D-003 (TT)"):
        assert reference in text
        assert reference in html
    assert f'href="{settings.SITE_URL}{WORKLIST}"' in html
    assert f"{settings.SITE_URL}{WORKLIST}" in text

    for part in (str(message["Subject"]), text, html):
        for secret in (*NAMES, "1950-04-03", "03/04/1950", "1950", SECRET_REPORT, "solid fusion"):
            assert secret not in part


def test_dates_are_the_clinics_own(smtp, clock):
    """A window that ends at midnight in Los Angeles ends that day there, not in UTC."""
    clinic = Clinic.objects.create(slug="la", name="LA", timezone="America/Los_Angeles")
    subscriber(clinic, "alice")
    theo = factories.patient(clinic, mrn="L-001")
    raise_alert(theo, Severity.HIGH)
    checkpoint(theo, "Bridging film", local("America/Los_Angeles", 2026, 1, 20, 0, 0))
    checkpoint(theo, "Spine review", local("America/Los_Angeles", 2026, 1, 25, 0, 0),
               CheckpointKind.MILESTONE)  # fmt: skip
    checkpoint(theo, "Cauda equina work-up", local("America/Los_Angeles", 2026, 1, 15, 13, 0),
               CheckpointKind.WORKUP)  # fmt: skip

    send(clock, local("America/Los_Angeles", 2026, 1, 15, 7, 0))

    text, html = text_and_html(smtp.messages[0])
    for part in (text, html):
        assert "Bridging film - L-001" in part.replace(" &ndash; ", " - ")
        assert "(due by the end of 2026-01-19)" in part
        assert "(2026-01-25)" in part
        assert "(due by 2026-01-15 13:00 (America/Los_Angeles))" in part
        assert "2026-01-20" not in part  # the UTC date of that midnight
        assert "21:00" not in part  # the UTC hour of the work-up's deadline


# --- Exactly once ---------------------------------------------------------------------


def test_two_runs_send_one_message(smtp, clock, clinic):
    subscriber(clinic, "alice")
    raise_alert(factories.patient(clinic), Severity.HIGH)

    assert send(clock, T0) == {"queued": 1, "sent": 1}
    assert send(clock, T0) == {"queued": 0, "sent": 0}
    assert send(clock, T0 + timedelta(hours=6)) == {"queued": 0, "sent": 0}

    assert len(smtp.messages) == 1
    assert Email.objects.get().status == EmailStatus.SENT


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_runs_in_two_processes_send_one_message_each(smtp):
    # Real time here: the clinic's hour is midnight UTC, so the digest is always due.
    clinic = Clinic.objects.create(slug="utc", name="UTC", timezone="UTC", digest_hour=0)
    people = [subscriber(clinic, f"staff{n}") for n in range(120)]  # more than a batch
    for _ in range(5):
        raise_alert(factories.patient(clinic), Severity.HIGH)
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "EMAIL_HOST": smtp.host,
        "EMAIL_PORT": str(smtp.port),
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
    }
    runs = [
        subprocess.Popen([sys.executable, "manage.py", "send_digests"], cwd=ROOT, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]  # fmt: skip
    reports = []
    for run in runs:
        out, err = run.communicate(timeout=120)
        assert run.returncode == 0, err
        reports.append(out)

    # "Queued 120 digest(s); sent 120 e-mail(s)." from one, or a share from each.
    assert sum(int(report.split("sent ")[1].split()[0]) for report in reports) == len(people)

    for person in people:
        assert len(smtp.received_by(person.email)) == 1, person.email
    assert len(smtp.messages) == len(people)
    assert set(Email.objects.values_list("status", flat=True)) == {EmailStatus.SENT}


def test_an_smtp_outage_delays_the_digest_and_it_goes_once_afterwards(smtp, clock, clinic):
    alice = subscriber(clinic, "alice")
    raise_alert(factories.patient(clinic), Severity.HIGH)
    smtp.stop()

    send(clock, T0)
    row = Email.objects.get()
    assert (row.status, row.attempts, row.sent_at) == (EmailStatus.PENDING, 1, None)
    assert "Connection" in row.last_error
    assert row.next_attempt_at == T0 + timedelta(minutes=1)

    send(clock, T0 + timedelta(seconds=30))  # backing off: not tried again yet
    row.refresh_from_db()
    assert (row.status, row.attempts) == (EmailStatus.PENDING, 1)

    send(clock, T0 + timedelta(minutes=1))
    row.refresh_from_db()
    assert (row.status, row.attempts) == (EmailStatus.PENDING, 2)
    assert row.next_attempt_at == T0 + timedelta(minutes=3)

    # Staff see why it has not gone in the admin.
    browser = Client()
    browser.force_login(alice)
    page = browser.get("/admin/followup/email/")
    assert page.status_code == 200
    assert "ConnectionRefusedError" in page.content.decode()

    smtp.start()
    send(clock, T0 + timedelta(minutes=3))
    send(clock, T0 + timedelta(minutes=10))
    row.refresh_from_db()
    assert (row.status, row.attempts, row.last_error) == (EmailStatus.SENT, 3, "")
    assert len(smtp.messages) == 1


def test_a_digest_left_sending_by_a_dead_worker_is_sent_after_the_claim_timeout(
    smtp, clock, clinic
):
    subscriber(clinic, "alice")
    raise_alert(factories.patient(clinic), Severity.HIGH)
    mailing.queue_digests(T0)
    (claimed,) = mailing._claim(T0)  # a worker claims it, then dies before sending

    assert send(clock, T0 + mailing.CLAIM_TIMEOUT - timedelta(seconds=1))["sent"] == 0
    assert Email.objects.get().status == EmailStatus.SENDING
    assert smtp.messages == []

    assert send(clock, T0 + mailing.CLAIM_TIMEOUT + timedelta(seconds=1))["sent"] == 1
    assert send(clock, T0 + 3 * mailing.CLAIM_TIMEOUT)["sent"] == 0
    row = Email.objects.get()
    assert (row.pk, row.status, row.attempts) == (claimed.pk, EmailStatus.SENT, 2)
    assert len(smtp.messages) == 1


def test_yesterdays_pending_digest_is_skipped_and_todays_is_sent(smtp, clock, clinic):
    subscriber(clinic, "alice")
    raise_alert(factories.patient(clinic), Severity.HIGH)
    smtp.stop()
    send(clock, T0)  # SMTP down all day: yesterday's stays pending
    smtp.start()

    assert send(clock, T0 + timedelta(days=1)) == {"queued": 1, "sent": 1}

    yesterday, today = Email.objects.order_by("local_date")
    assert (yesterday.local_date, yesterday.status) == (date(2026, 3, 2), EmailStatus.SKIPPED)
    assert yesterday.sent_at is None
    assert "passed" in yesterday.last_error
    assert (today.local_date, today.status) == (date(2026, 3, 3), EmailStatus.SENT)
    (message,) = smtp.messages
    assert "2026-03-03" in message["Subject"]


# --- Each clinic at its own hour ------------------------------------------------------


@pytest.mark.parametrize(
    "zone, day",
    [("Australia/Brisbane", date(2026, 1, 15)), ("America/Los_Angeles", date(2026, 1, 14))],
)
def test_a_clinic_gets_its_digest_at_its_own_local_hour(smtp, clock, zone, day):
    clinic = Clinic.objects.create(slug="c", name="C", timezone=zone, digest_hour=7)
    subscriber(clinic, "alice")

    at = local(zone, day.year, day.month, day.day, 7, 0)
    assert send(clock, at - timedelta(minutes=1)) == {"queued": 0, "sent": 0}
    assert send(clock, at) == {"queued": 1, "sent": 1}
    assert send(clock, local(zone, day.year, day.month, day.day, 23, 59))["sent"] == 0

    (message,) = smtp.messages
    assert str(day) in message["Subject"]
    assert Email.objects.get().local_date == day


def test_clinics_ten_hours_ahead_and_eight_behind_each_get_theirs_at_seven(smtp, clock):
    brisbane = Clinic.objects.create(
        slug="bne", name="Brisbane", timezone="Australia/Brisbane", digest_hour=7
    )
    la = Clinic.objects.create(slug="lax", name="LA", timezone="America/Los_Angeles", digest_hour=7)
    subscriber(brisbane, "bree")
    subscriber(la, "lou")

    def sent_to() -> list[str]:
        return sorted(m["To"] for m in smtp.messages)

    utc = "UTC"
    send(clock, local(utc, 2026, 1, 14, 14, 59))  # LA 06:59, Brisbane 00:59 the next day
    assert sent_to() == []
    send(clock, local(utc, 2026, 1, 14, 15, 0))  # LA 07:00 (UTC-8)
    assert sent_to() == ["lou@example.org"]
    send(clock, local(utc, 2026, 1, 14, 20, 59))  # Brisbane 06:59
    assert sent_to() == ["lou@example.org"]
    send(clock, local(utc, 2026, 1, 14, 21, 0))  # Brisbane 07:00 (UTC+10)
    assert sent_to() == ["bree@example.org", "lou@example.org"]
    assert dict(Email.objects.values_list("clinic__slug", "local_date")) == {
        "lax": date(2026, 1, 14),
        "bne": date(2026, 1, 15),
    }


# --- Who gets it, and what "new" means ------------------------------------------------


def test_only_subscribed_staff_of_the_clinic_get_it(smtp, clock, clinic):
    subscriber(clinic, "alice")
    subscriber(clinic, "dora", digest=False)
    subscriber(clinic, "gone", is_active=False)
    former = subscriber(clinic, "former")
    Membership.objects.filter(user=former).delete()  # left the clinic, kept the setting
    no_address = subscriber(clinic, "noaddr")
    no_address.email = ""
    no_address.save()
    raise_alert(factories.patient(clinic), Severity.HIGH)

    send(clock, T0)

    assert [m["To"] for m in smtp.messages] == ["alice@example.org"]
    assert list(Email.objects.values_list("recipient", flat=True)) == ["alice@example.org"]


def test_new_means_created_since_the_recipients_previous_digest(smtp, clock, clinic):
    subscriber(clinic, "alice")
    raise_alert(factories.patient(clinic, mrn="N-001"), Severity.HIGH, message="Old news.")
    send(clock, T0)

    clock.move_to(T0 + timedelta(hours=5))
    raise_alert(factories.patient(clinic, mrn="N-002"), Severity.WARNING, message="Fresh news.")
    subscriber(clinic, "bob")  # his first digest: everything open is new to him
    send(clock, T0 + timedelta(days=1))

    (alice_today,) = smtp.received_by("alice@example.org")[1:]
    text, _ = text_and_html(alice_today)
    new = section(text, "NEW ALERTS since 2026-03-02 07:00 (Europe/Paris): 1", "STILL OPEN")
    assert "Fresh news." in new
    assert "Old news." not in new
    still_open = section(text, "STILL OPEN", "CHECKPOINTS")
    assert "Old news." in still_open
    assert "Fresh news." in still_open

    (bob_today,) = smtp.received_by("bob@example.org")
    text, _ = text_and_html(bob_today)
    new = section(text, "NEW ALERTS: 2", "STILL OPEN")
    assert "Fresh news." in new
    assert "Old news." in new


# --- Scale, and the preview -----------------------------------------------------------


def populate(clinic: Clinic, alerts: int) -> None:
    patients = [factories.patient(clinic) for _ in range(5)]
    for n in range(alerts):
        patient = patients[n % len(patients)]
        raise_alert(patient, [Severity.URGENT, Severity.HIGH, Severity.WARNING][n % 3])
        if n % 10 == 0:
            overdue = T0 - timedelta(days=1)
            checkpoint(patient, f"Overdue {n}", T0 - timedelta(days=9), overdue_at=overdue,
                       overdue_since=overdue)  # fmt: skip
            checkpoint(patient, f"Soon {n}", T0 + timedelta(days=2))
            checkpoint(patient, f"Milestone {n}", T0 + timedelta(days=9), CheckpointKind.MILESTONE)


def test_the_digest_takes_the_same_number_of_queries_for_5_or_200_alerts(smtp, clock):
    small = Clinic.objects.create(
        slug="small", name="Small", timezone="Europe/Paris", digest_hour=6
    )
    large = Clinic.objects.create(
        slug="large", name="Large", timezone="Europe/Paris", digest_hour=8
    )
    subscriber(small, "sam")
    subscriber(large, "lea")
    populate(small, 5)
    populate(large, 200)

    queries = []
    for hour in (6, 8):  # each clinic's digest goes alone at its hour
        clock.move_to(local("Europe/Paris", 2026, 3, 2, hour, 30))
        with CaptureQueriesContext(connection) as captured:
            assert tasks.send_digests()["sent"] == 1
        queries.append(len(captured))

    assert queries[0] == queries[1]
    text, _ = text_and_html(smtp.received_by("lea@example.org")[0])
    assert "NEW ALERTS: 200" in text


def test_the_admin_previews_the_digest_without_sending_anything(smtp, clock, clinic):
    alice = subscriber(clinic, "alice")
    other = Clinic.objects.create(slug="nice", name="Nice", timezone="Europe/Paris")
    patient = factories.patient(clinic, mrn="P-001", family_name="Lindqvist", given_name="Maja")
    raise_alert(patient, Severity.URGENT, message="Screw in the spinal canal at L5, right.")
    browser = Client()
    browser.force_login(alice)

    page = browser.get(f"/admin/patients/clinic/{clinic.pk}/digest-preview/")

    assert page.status_code == 200
    body = page.content.decode()
    assert "Screw in the spinal canal" in body
    assert "P-001 (ML)" in body
    assert "Lindqvist" not in body
    assert "Maja" not in body
    assert browser.get(f"/admin/patients/clinic/{other.pk}/digest-preview/").status_code == 404
    assert not Email.objects.exists()
    assert smtp.messages == []
