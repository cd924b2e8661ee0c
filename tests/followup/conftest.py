from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from followup.models import CheckpointDefinition, Protocol
from followup.rules.default_protocols import load_default_protocols
from patients.models import Clinic


@pytest.fixture
def protocols(db):
    """The CLINICAL_RULES §2 defaults (a transactional test flushes the migration's copy)."""
    load_default_protocols(Protocol, CheckpointDefinition)
    # The newest shared version of each family: the one in force (a migrated database
    # holds older ones too, e.g. before the PROM time points were added).
    return {p.family: p for p in Protocol.objects.filter(clinic__isnull=True).order_by("version")}


@pytest.fixture
def instruments(db):
    """The shipped questionnaires (a transactional test flushes the migration's copy)."""
    from followup.models import Instrument
    from followup.rules.default_instruments import load_default_instruments

    load_default_instruments(Instrument)


def local(zone: str, *args) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(zone))


@pytest.fixture
def paris(db) -> Clinic:
    return Clinic.objects.create(slug="paris", name="Paris", timezone="Europe/Paris")
