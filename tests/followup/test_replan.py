"""Changing a surgery re-plans what is not yet satisfied; deleting it removes its checkpoints."""

from datetime import timedelta

import pytest

from followup.models import Checkpoint
from followup.pipeline import refresh
from tests import factories

from .conftest import local

DAY0 = local("Europe/Paris", 2026, 1, 5, 9, 0)


@pytest.fixture
def fusion(protocols, paris):
    surgery = factories.surgery(factories.patient(paris), DAY0, procedure="tlif")
    refresh.refresh(surgery.pk, DAY0)
    return surgery


def codes(surgery) -> dict[str, Checkpoint]:
    return {c.code: c for c in surgery.checkpoints.all()}


def test_saving_a_surgery_marks_it_for_planning(fusion):
    fusion.refresh_from_db()
    assert fusion.plan.stale_since is None
    fusion.notes = "changed"
    fusion.save()
    fusion.refresh_from_db()
    assert fusion.plan.stale_since is not None


def test_re_dating_moves_every_window_and_the_film_still_satisfies_its_own(fusion):
    # One truth: the windows are a function of the surgery's date, satisfied or not.
    film = factories.exam(fusion.patient, fusion, performed_at=DAY0 + timedelta(days=7))
    refresh.refresh(fusion.pk, DAY0 + timedelta(days=8))
    before = codes(fusion)

    fusion.performed_at = DAY0 + timedelta(days=3)
    fusion.save()
    refresh.refresh(fusion.pk, DAY0 + timedelta(days=8))
    after = codes(fusion)

    assert after["baseline_film"].satisfied_by_id == film.pk
    assert after["baseline_film"].due_at == before["baseline_film"].due_at + timedelta(days=3)
    assert after["bridging_film"].opens_at == before["bridging_film"].opens_at + timedelta(days=3)
    assert after["gadolinium_cutoff"].due_at == before["gadolinium_cutoff"].due_at + timedelta(3)


def test_changing_the_procedure_swaps_the_protocol(fusion):
    fusion.procedure = "discectomy"
    fusion.save()
    refresh.refresh(fusion.pk, DAY0)
    fusion.refresh_from_db()
    assert set(codes(fusion)) == {
        "gadolinium_cutoff", "early_changes_end",
        "prom_baseline", "prom_6w", "prom_3m", "prom_12m", "prom_2y",
    }  # fmt: skip
    assert fusion.plan.protocol.family == "disc_surgery"


def test_deleting_a_surgery_removes_its_checkpoints(fusion):
    assert Checkpoint.objects.filter(surgery=fusion).exclude(kind="prom").count() == 5
    fusion.delete()
    assert not Checkpoint.objects.filter(surgery_id=fusion.pk).exists()


def test_refreshing_twice_changes_nothing(fusion):
    before = list(Checkpoint.objects.filter(surgery=fusion).values().order_by("pk"))
    refresh.refresh(fusion.pk, DAY0 + timedelta(days=1))
    after = list(Checkpoint.objects.filter(surgery=fusion).values().order_by("pk"))
    assert before == after
