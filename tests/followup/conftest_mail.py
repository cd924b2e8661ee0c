"""The SMTP server fixture and small builders shared by the e-mail tests.

A test module imports `smtp_server` to get the `smtp` fixture (tests/conftest.py and
tests/followup/conftest.py stay as they are).
"""

from itertools import count

import pytest
from django.contrib.auth import get_user_model

from followup.models import Alert, Severity, Subscription
from followup.models.alerts import AlertCode
from patients.models import Clinic, Membership, Role
from tests.smtp import SmtpServer

_serial = count(1)


@pytest.fixture(name="smtp")
def smtp_server(settings):
    """A real SMTP server, and MAILERS pointing at it (the test runner's locmem replaced)."""
    server = SmtpServer()
    server.start()
    settings.MAILERS = {"default": server.mailer}
    yield server
    server.stop()


def subscriber(clinic: Clinic, name: str, *, digest: bool = True, urgent: bool = True, **user):
    """A clinician of `clinic` with an e-mail address and the given subscription."""
    person = get_user_model().objects.create_user(
        username=name, email=f"{name}@example.org", is_staff=True, **user
    )
    Membership.objects.create(user=person, clinic=clinic, role=Role.CLINICIAN)
    Subscription.objects.create(user=person, clinic=clinic, digest=digest, urgent=urgent)
    return person


def raise_alert(patient, severity=Severity.HIGH, code=AlertCode.SCREW_LOOSENING, **fields):
    fields.setdefault("subject", f"L5:left:{next(_serial)}")
    fields.setdefault("message", f"Finding {next(_serial)} at L5, left.")
    return Alert.objects.create(
        clinic=patient.clinic, patient=patient, code=code, severity=severity, **fields
    )
