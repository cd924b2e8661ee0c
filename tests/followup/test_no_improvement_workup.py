"""No improvement after a decompression (CLINICAL_RULES §5): MR first. A radiograph alone
does not close the work-up; the shared default was fixed by a new version, so work-ups
planned from the old one keep it."""

import importlib
from datetime import timedelta

import pytest
from django.apps import apps

from followup.models import Checkpoint, Protocol
from followup.pipeline import refresh
from patients.models import ClinicalEvent
from tests import factories

from .conftest import local

DAY0 = local("Europe/Paris", 2026, 1, 5, 9, 0)
ONSET = local("Europe/Paris", 2026, 3, 2, 10, 0)

fix = importlib.import_module("followup.migrations.0011_no_improvement_workup_mr_first")


def decompression(clinic):
    surgery = factories.surgery(factories.patient(clinic), DAY0, procedure="decompression")
    refresh.refresh(surgery.pk, DAY0)
    return surgery


def workup_after_no_improvement(surgery, at=ONSET) -> Checkpoint:
    event = ClinicalEvent.objects.create(
        patient=surgery.patient, surgery=surgery, code="no_improvement", occurred_at=at
    )
    refresh.refresh(surgery.pk, at)
    return Checkpoint.objects.get(event=event)


def exam_then_refresh(surgery, modality: str, at):
    exam = factories.exam(surgery.patient, surgery, modality=modality, performed_at=at)
    refresh.refresh(surgery.pk, at + timedelta(minutes=1))
    return exam


@pytest.fixture
def old_default(protocols):
    """The shared default as databases had it before the fix: a radiograph closed it."""
    current = Protocol.objects.current("workups", None)
    old = Protocol.objects.create(family="workups", name=current.name)
    for definition in current.definitions.all():
        definition.pk, definition.protocol = None, old
        if definition.code == "no_improvement":
            definition.modalities = ["MR", "XR"]
        definition.save()
    return old


def test_a_radiograph_does_not_answer_no_improvement_an_mr_does(protocols, paris):
    surgery = decompression(paris)
    workup = workup_after_no_improvement(surgery)
    assert workup.modalities == ["MR"]

    exam_then_refresh(surgery, "XR", ONSET + timedelta(days=2))
    workup.refresh_from_db()
    assert workup.satisfied_by is None

    mr = exam_then_refresh(surgery, "MR", ONSET + timedelta(days=3))
    workup.refresh_from_db()
    assert workup.satisfied_by == mr


def test_the_fix_is_a_new_version_and_the_used_one_is_unchanged(old_default, paris):
    surgery = decompression(paris)
    planned_before = workup_after_no_improvement(surgery)
    assert planned_before.definition.protocol == old_default

    fix.mr_first(apps, None)

    fixed = Protocol.objects.current("workups", None)
    assert fixed.version == old_default.version + 1
    assert fixed.definitions.get(code="no_improvement").modalities == ["MR"]
    assert old_default.definitions.get(code="no_improvement").modalities == ["MR", "XR"]
    assert {d.code for d in fixed.definitions.all()} == {
        d.code for d in old_default.definitions.all()
    }
    # Planned before: keeps its version. Recorded after: MR only.
    later = workup_after_no_improvement(surgery, ONSET + timedelta(days=10))
    planned_before.refresh_from_db()
    assert planned_before.modalities == ["MR", "XR"]
    assert later.modalities == ["MR"]
    assert later.definition.protocol == fixed


def test_the_fix_runs_once(old_default):
    fix.mr_first(apps, None)
    fix.mr_first(apps, None)
    assert Protocol.objects.filter(family="workups", clinic__isnull=True).count() == (
        old_default.version + 1
    )
