"""A checkpoint planned from a definition with `required` unticked is optional: it is
planned, matched and shown like any other, but never overdue (no alert, not on the
worklist's overdue list)."""

from datetime import timedelta

import pytest
import time_machine

from followup.admin.site import worklist
from followup.models import Alert, Protocol
from followup.pipeline import refresh, sweep
from patients.access import access_for_user
from patients.models import Role
from tests import factories
from tests.conftest import make_staff

from .conftest import local

DAY0 = local("Europe/Paris", 2026, 1, 5, 9, 0)
DAY300 = DAY0 + timedelta(days=300)  # both the baseline and the bridging window are over


@pytest.fixture
def bridging_optional(protocols, paris) -> Protocol:
    """The clinic's fusion protocol, its bridging film made optional."""
    mine = Protocol.objects.create(family="fusion", clinic=paris, name="Fusion, bridging optional")
    for definition in protocols["fusion"].definitions.all():
        definition.pk, definition.protocol = None, mine
        definition.required = definition.code != "bridging_film"
        definition.save()
    return mine


@pytest.fixture
def fusion(bridging_optional, paris):
    surgery = factories.surgery(factories.patient(paris), DAY0, procedure="tlif")
    refresh.refresh(surgery.pk, DAY0)
    return surgery


def test_the_optional_checkpoint_is_planned_and_shown(fusion):
    bridging = fusion.checkpoints.get(code="bridging_film")
    assert bridging.required is False
    assert fusion.checkpoints.get(code="baseline_film").required is True


def test_a_missed_optional_checkpoint_raises_no_alert(fusion):
    sweep.run(DAY300)

    overdue = Alert.objects.filter(code="checkpoint_overdue")
    assert [a.checkpoint.code for a in overdue] == ["baseline_film"]
    assert fusion.checkpoints.get(code="bridging_film").overdue_since is None
    sweep.run(DAY300 + timedelta(days=1))
    assert overdue.count() == 1


def test_a_missed_optional_checkpoint_is_not_on_the_worklist(fusion, paris):
    clinician = make_staff("clara", paris, Role.CLINICIAN)

    with time_machine.travel(DAY300, tick=False):
        listed = [c.code for c in worklist(access_for_user(clinician).readable)["overdue"]]

    assert listed == ["baseline_film"]


def test_an_exam_still_satisfies_an_optional_checkpoint(fusion):
    film = factories.exam(fusion.patient, fusion, performed_at=DAY0 + timedelta(days=120))
    refresh.refresh(fusion.pk, DAY0 + timedelta(days=121))

    assert fusion.checkpoints.get(code="bridging_film").satisfied_by == film
