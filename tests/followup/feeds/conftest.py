from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from followup.models import Hl7Source
from followup.pipeline import refresh
from patients.models import Clinic
from tests import factories

from .hl7_listener import ListenerProcess
from .messages import FACILITY

PARIS = ZoneInfo("Europe/Paris")
OPERATED = datetime(2026, 1, 5, 9, 0, tzinfo=PARIS)


@pytest.fixture(scope="module")
def listener(django_db_setup, django_db_blocker):
    """One real listener process for the module's tests (each test's data is its own)."""
    with django_db_blocker.unblock():
        process = ListenerProcess().start()
    yield process
    process.stop()


@pytest.fixture
def clinic(db, protocols) -> Clinic:
    clinic = Clinic.objects.create(slug="lyon", name="Lyon", timezone="Europe/Paris")
    Hl7Source.objects.create(clinic=clinic, facility=FACILITY, name="Radiology of Lyon")
    return clinic


@pytest.fixture
def operated(clinic):
    """A patient with MRN M100, a TLIF on 2026-01-05, planned."""
    patient = factories.patient(clinic, mrn="M100", family_name="Dupont", given_name="Marie")
    surgery = factories.surgery(patient, OPERATED, procedure="tlif", levels=["L4-L5"])
    refresh.refresh(surgery.pk, OPERATED)
    return patient
