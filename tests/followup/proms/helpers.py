"""A patient who agreed to questionnaires, operated on a known day, and the links their
e-mails carry."""

import re
from datetime import timedelta

from followup.models import Checkpoint
from followup.pipeline import refresh
from tests import factories
from tests.followup.conftest import local
from tests.smtp import text_and_html

DAY0 = local("Europe/Paris", 2026, 1, 5, 9, 0)
LINK = re.compile(r"(https?://\S+/p/[^/\s]+/)")


def consenting_patient(clinic, language="en", **fields):
    return factories.patient(
        clinic, email=fields.pop("email", "lea.martin@example.net"), prom_consent=True,
        preferred_language=language, **fields,
    )  # fmt: skip


def operated(clinic, language="en", day0=DAY0, **fields):
    """A fusion planned on day 0 (so its PROM time points exist)."""
    patient = consenting_patient(clinic, language, **fields)
    surgery = factories.surgery(patient, day0, procedure="tlif")
    refresh.refresh(surgery.pk, day0)
    return patient, surgery


def time_point(surgery, code: str) -> Checkpoint:
    return Checkpoint.objects.get(surgery=surgery, code=code)


def link_in(message) -> str:
    text, html = text_and_html(message)
    found = LINK.findall(text)
    assert len(found) == 1, text
    assert found[0] in html
    return found[0]


def day(n: int, hours: int = 10):
    return DAY0 + timedelta(days=n, hours=hours)
