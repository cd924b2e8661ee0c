"""Urgent alerts: one e-mail per subscribed staff member, one escalation when ignored.

Each run of `notify_urgent` is what the beat does every minute; the messages go through
a real SMTP server.
"""

from datetime import timedelta

import pytest
import time_machine

from followup import tasks
from followup.models import Alert, Email, EmailKind, EmailStatus, Severity
from followup.pipeline.alerts_lifecycle import acknowledge
from patients.models import Clinic, Membership
from tests import factories
from tests.smtp import text_and_html

from ..conftest import local
from ..conftest_mail import raise_alert, smtp_server, subscriber  # noqa: F401 (a fixture)

T0 = local("Europe/Paris", 2026, 3, 2, 9, 0)
ONCALL = "oncall@example.org"


@pytest.fixture
def clock(smtp):  # the SMTP server starts before time stands still
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


@pytest.fixture
def clinic(db) -> Clinic:
    return Clinic.objects.create(
        slug="lyon", name="Lyon", timezone="Europe/Paris", escalation_email=ONCALL
    )


def notify(clock, at) -> dict:
    clock.move_to(at)
    return tasks.notify_urgent()


def test_an_urgent_alert_is_emailed_once_to_each_subscribed_staff_member(smtp, clock, clinic):
    alice, bob = subscriber(clinic, "alice"), subscriber(clinic, "bob")
    patient = factories.patient(clinic, mrn="U-100", family_name="Quenneville", given_name="Rose")
    alert = raise_alert(patient, Severity.URGENT, message="Epidural abscess at L4-L5.")

    assert notify(clock, T0 + timedelta(minutes=1)) == {"queued": 2, "sent": 2}
    assert notify(clock, T0 + timedelta(minutes=2)) == {"queued": 0, "sent": 0}

    for person in (alice, bob):
        (message,) = smtp.received_by(person.email)
        assert "URGENT" in message["Subject"]
        assert "U-100 (RQ)" in message["Subject"]
        text, html = text_and_html(message)
        assert "Epidural abscess" in text
        assert "Epidural abscess" in html
        for part in (message["Subject"], text, html):
            assert "Quenneville" not in part
            assert "Rose" not in part
        assert f"/admin/followup/alert/{alert.pk}/change/" in text
    assert set(Email.objects.values_list("kind", "status")) == {(EmailKind.URGENT, "sent")}


def test_only_staff_who_asked_for_urgent_notices_get_them(smtp, clock, clinic):
    subscriber(clinic, "alice")
    subscriber(clinic, "dora", urgent=False)
    subscriber(clinic, "gone", is_active=False)
    former = subscriber(clinic, "former")
    Membership.objects.filter(user=former).delete()  # left the clinic, kept the setting
    other = Clinic.objects.create(slug="nice", name="Nice", timezone="Europe/Paris")
    subscriber(other, "olga")
    raise_alert(factories.patient(clinic), Severity.URGENT)

    notify(clock, T0 + timedelta(minutes=1))

    assert [m["To"] for m in smtp.messages] == ["alice@example.org"]


def test_an_alert_that_is_not_urgent_is_not_emailed(smtp, clock, clinic):
    subscriber(clinic, "alice")
    raise_alert(factories.patient(clinic), Severity.HIGH)

    notify(clock, T0 + timedelta(minutes=1))
    notify(clock, T0 + timedelta(hours=3))

    assert smtp.messages == []
    assert not Email.objects.exists()


def test_an_ignored_urgent_alert_is_escalated_once_after_the_clinics_time(smtp, clock, clinic):
    subscriber(clinic, "alice")
    patient = factories.patient(clinic, mrn="U-200", family_name="Vasseur", given_name="Paul")
    raise_alert(patient, Severity.URGENT)
    notify(clock, T0 + timedelta(minutes=1))  # the notices go; the clinic's 2 h start

    notify(clock, T0 + timedelta(minutes=120))
    assert smtp.received_by(ONCALL) == []

    notify(clock, T0 + timedelta(minutes=121))
    (escalation,) = smtp.received_by(ONCALL)
    assert "ESCALATION" in escalation["Subject"]
    assert "U-200 (PV)" in escalation["Subject"]
    text, html = text_and_html(escalation)
    assert "nobody has acknowledged" in text
    assert "Vasseur" not in text + html

    # Nothing further while it stays as it is.
    for later in (timedelta(minutes=122), timedelta(hours=5), timedelta(days=2)):
        assert notify(clock, T0 + later) == {"queued": 0, "sent": 0}
    assert len(smtp.received_by(ONCALL)) == 1
    assert len(smtp.messages) == 2
    escalated = Email.objects.get(kind=EmailKind.ESCALATION)
    assert (escalated.recipient, escalated.status, escalated.user) == (ONCALL, "sent", None)


def test_an_alert_that_becomes_urgent_later_gets_the_whole_delay(smtp, clock, clinic):
    subscriber(clinic, "alice")
    alert = raise_alert(factories.patient(clinic), Severity.HIGH)
    notify(clock, T0 + timedelta(hours=1))

    clock.move_to(T0 + timedelta(hours=5))
    Alert.objects.filter(pk=alert.pk).update(severity=Severity.URGENT)  # a new exam's finding
    notify(clock, T0 + timedelta(hours=5, minutes=1))
    assert [m["To"] for m in smtp.messages] == ["alice@example.org"]

    notify(clock, T0 + timedelta(hours=6, minutes=59))
    assert smtp.received_by(ONCALL) == []
    notify(clock, T0 + timedelta(hours=7, minutes=1))
    assert len(smtp.received_by(ONCALL)) == 1


def test_the_clinics_own_escalation_time_is_used(smtp, clock, clinic):
    clinic.escalation_after_minutes = 30
    clinic.save()
    raise_alert(factories.patient(clinic), Severity.URGENT)

    notify(clock, T0 + timedelta(minutes=29))
    assert smtp.messages == []
    notify(clock, T0 + timedelta(minutes=30))
    assert [m["To"] for m in smtp.messages] == [ONCALL]


def test_an_acknowledged_alert_is_not_escalated(smtp, clock, clinic):
    alice = subscriber(clinic, "alice")
    alert = raise_alert(factories.patient(clinic), Severity.URGENT)
    notify(clock, T0 + timedelta(minutes=1))

    clock.move_to(T0 + timedelta(minutes=30))
    acknowledge(alert, alice, T0 + timedelta(minutes=30))
    notify(clock, T0 + timedelta(hours=3))

    assert smtp.received_by(ONCALL) == []
    assert not Email.objects.filter(kind=EmailKind.ESCALATION).exists()
    assert len(smtp.messages) == 1


def test_an_escalation_held_back_by_an_outage_is_dropped_once_acknowledged(smtp, clock, clinic):
    alice = subscriber(clinic, "alice")
    alert = raise_alert(factories.patient(clinic), Severity.URGENT)
    notify(clock, T0 + timedelta(minutes=1))
    smtp.stop()
    notify(clock, T0 + timedelta(minutes=125))  # escalation recorded; SMTP is down

    clock.move_to(T0 + timedelta(minutes=130))
    acknowledge(alert, alice, T0 + timedelta(minutes=130))
    smtp.start()
    notify(clock, T0 + timedelta(minutes=140))

    assert smtp.received_by(ONCALL) == []
    escalation = Email.objects.get(kind=EmailKind.ESCALATION)
    assert (escalation.status, escalation.sent_at) == (EmailStatus.SKIPPED, None)


def test_without_an_escalation_address_nothing_is_escalated(smtp, clock, clinic):
    clinic.escalation_email = ""
    clinic.save()
    subscriber(clinic, "alice")
    raise_alert(factories.patient(clinic), Severity.URGENT)

    notify(clock, T0 + timedelta(minutes=1))
    notify(clock, T0 + timedelta(hours=3))

    assert [m["To"] for m in smtp.messages] == ["alice@example.org"]
    assert list(Email.objects.values_list("kind", flat=True)) == [EmailKind.URGENT]


def test_a_failed_notice_is_retried_and_never_marked_sent(smtp, clock, clinic):
    subscriber(clinic, "alice")
    raise_alert(factories.patient(clinic), Severity.URGENT)

    smtp.stop()
    notify(clock, T0 + timedelta(minutes=1))
    row = Email.objects.get()
    assert (row.status, row.attempts) == (EmailStatus.PENDING, 1)
    assert row.last_error

    smtp.start()
    notify(clock, T0 + timedelta(minutes=3))
    row.refresh_from_db()
    assert (row.status, row.attempts, row.last_error) == (EmailStatus.SENT, 2, "")
    assert len(smtp.messages) == 1
