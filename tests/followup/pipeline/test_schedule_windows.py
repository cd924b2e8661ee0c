"""Window arithmetic at its edges: local days, east and west of UTC, across DST."""

from datetime import timedelta

import pytest

from followup.models import CheckpointStatus
from followup.pipeline import refresh
from patients.models import Clinic
from tests import factories

from ..conftest import local


def plan(clinic_zone: str, performed_at, protocols):
    clinic = Clinic.objects.create(slug=clinic_zone.lower().replace("/", "-"), name=clinic_zone,
                                   timezone=clinic_zone)  # fmt: skip
    surgery = factories.surgery(factories.patient(clinic), performed_at, procedure="tlif")
    refresh.refresh(surgery.pk, performed_at)
    return {c.code: c for c in surgery.checkpoints.all()}


@pytest.mark.parametrize(
    ("zone", "surgery_at", "last_day_of_baseline"),
    [
        # East of UTC: 08:00 in Sydney on 1 March is still 28 February in UTC.
        ("Australia/Sydney", ("Australia/Sydney", 2026, 3, 1, 8, 0), (2026, 4, 12)),
        # West of UTC: 20:00 in Los Angeles on 1 March is already 2 March in UTC.
        ("America/Los_Angeles", ("America/Los_Angeles", 2026, 3, 1, 20, 0), (2026, 4, 12)),
        # Paris, with the spring DST change (29 March) inside the window.
        ("Europe/Paris", ("Europe/Paris", 2026, 3, 1, 9, 30), (2026, 4, 12)),
    ],
)
def test_a_window_opens_at_the_start_of_day_0_and_ends_at_the_end_of_day_42(
    protocols, zone, surgery_at, last_day_of_baseline
):
    baseline = plan(zone, local(*surgery_at), protocols)["baseline_film"]

    assert baseline.opens_at == local(zone, 2026, 3, 1, 0, 0)
    assert baseline.due_at == local(zone, *last_day_of_baseline, 0, 0) + timedelta(days=1)
    assert baseline.due_at == local(zone, 2026, 4, 13, 0, 0)


def test_first_and_last_minute_of_the_window(protocols):
    baseline = plan("Europe/Paris", local("Europe/Paris", 2026, 3, 1, 9, 30), protocols)[
        "baseline_film"
    ]
    first_minute = local("Europe/Paris", 2026, 3, 1, 0, 0)
    last_minute = local("Europe/Paris", 2026, 4, 12, 23, 59)

    assert baseline.status_at(first_minute - timedelta(minutes=1)) == CheckpointStatus.UPCOMING
    assert baseline.status_at(first_minute) == CheckpointStatus.OPEN
    assert baseline.status_at(last_minute) == CheckpointStatus.OPEN
    assert baseline.status_at(last_minute + timedelta(minutes=1)) == CheckpointStatus.OVERDUE


def test_the_window_end_follows_local_midnight_across_the_autumn_dst_change(protocols):
    # Day 42 after 15 September 2026 is 27 October, after Paris left summer time (25 Oct).
    baseline = plan("Europe/Paris", local("Europe/Paris", 2026, 9, 15, 14, 0), protocols)[
        "baseline_film"
    ]
    assert baseline.opens_at.utcoffset() is not None
    assert baseline.opens_at == local("UTC", 2026, 9, 14, 22, 0)  # CEST, UTC+2
    assert baseline.due_at == local("UTC", 2026, 10, 27, 23, 0)  # CET, UTC+1


PROMS = ("prom_baseline", "prom_6w", "prom_3m", "prom_12m", "prom_2y")


def test_the_baseline_prom_opens_before_the_surgery_and_is_due_at_the_end_of_its_day(protocols):
    zone = "Europe/Paris"
    checkpoints = plan(zone, local(zone, 2026, 1, 10, 8, 0), protocols)
    baseline = checkpoints["prom_baseline"]
    assert baseline.kind == "prom"
    assert baseline.opens_at == local(zone, 2025, 10, 12, 0, 0)  # day -90
    assert baseline.due_at == local(zone, 2026, 1, 11, 0, 0)  # end of day 0
    assert baseline.instruments == ["nrs_back", "nrs_leg", "odi"]
    assert checkpoints["prom_3m"].instruments == ["nrs_back", "nrs_leg", "odi", "grc"]


def test_a_fusion_gets_every_checkpoint_and_milestone_of_the_protocol(protocols):
    zone = "Europe/Paris"
    checkpoints = plan(zone, local(zone, 2026, 1, 10, 8, 0), protocols)

    assert set(checkpoints) == {
        "baseline_film", "bridging_film", "fusion_assessment", "gadolinium_cutoff",
        "early_changes_end", "prom_baseline", "prom_6w", "prom_3m", "prom_12m", "prom_2y",
    }  # fmt: skip
    bridging = checkpoints["bridging_film"]
    assert (bridging.opens_at, bridging.due_at) == (
        local(zone, 2026, 4, 10, 0, 0),  # day 90
        local(zone, 2026, 10, 8, 0, 0),  # end of day 270
    )
    assert checkpoints["fusion_assessment"].modalities == ["XR", "CT"]
    cutoff = checkpoints["gadolinium_cutoff"]
    assert cutoff.kind == "milestone"
    assert cutoff.due_at == local(zone, 2026, 7, 12, 0, 0)  # day 183
    assert cutoff.status_at(cutoff.due_at - timedelta(seconds=1)) == CheckpointStatus.UPCOMING
    assert cutoff.status_at(cutoff.due_at) == CheckpointStatus.PASSED


def test_a_discectomy_gets_the_milestones_and_the_proms_only(protocols):
    clinic = Clinic.objects.create(slug="d", name="D", timezone="UTC")
    surgery = factories.surgery(factories.patient(clinic), procedure="discectomy", hardware=[])
    refresh.refresh(surgery.pk, surgery.performed_at)
    assert set(surgery.checkpoints.values_list("code", flat=True)) == {
        "gadolinium_cutoff",
        "early_changes_end",
        *PROMS,
    }


def test_a_vertebroplasty_gets_nothing_by_default(protocols):
    clinic = Clinic.objects.create(slug="v", name="V", timezone="UTC")
    surgery = factories.surgery(factories.patient(clinic), procedure="vertebroplasty")
    refresh.refresh(surgery.pk, surgery.performed_at)
    assert not surgery.checkpoints.exists()


def test_grace_days_push_the_overdue_time_not_the_due_time(protocols):
    definition = protocols["fusion"].definitions.get(code="baseline_film")
    definition.grace_days = 7
    definition.save()
    zone = "Europe/Paris"
    baseline = plan(zone, local(zone, 2026, 3, 1, 9, 0), protocols)["baseline_film"]

    assert baseline.due_at == local(zone, 2026, 4, 13, 0, 0)
    assert baseline.overdue_at == local(zone, 2026, 4, 20, 0, 0)
    assert baseline.status_at(local(zone, 2026, 4, 19, 23, 59)) == CheckpointStatus.OPEN
    assert baseline.status_at(local(zone, 2026, 4, 20, 0, 0)) == CheckpointStatus.OVERDUE
