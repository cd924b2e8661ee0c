"""The rules run over a surgery's exams in time order and keep its alerts in step."""

from datetime import timedelta

import pytest

from followup.models import Alert, AlertStatus, Thresholds
from followup.pipeline import alerts_lifecycle, refresh
from imaging.models import Finding
from tests import factories

from ..conftest import local

DAY0 = local("Europe/Paris", 2025, 1, 6, 9, 0)


@pytest.fixture
def fusion(protocols, paris):
    surgery = factories.surgery(factories.patient(paris), DAY0, procedure="tlif", levels=["L4-L5"])
    refresh.refresh(surgery.pk, DAY0)
    return surgery


def film(surgery, day, *findings, modality="XR"):
    return factories.exam(
        surgery.patient,
        surgery,
        performed_at=DAY0 + timedelta(days=day, hours=1),
        modality=modality,
        findings=[
            {"code": code, "value": value, "level": level, "side": side}
            for code, value, level, side in findings
        ],
    )


def evaluated(surgery) -> dict[tuple[str, str], Alert]:
    refresh.refresh(surgery.pk, DAY0 + timedelta(days=900))
    return {
        (a.code, a.subject): a
        for a in Alert.objects.filter(surgery=surgery).exclude(code="checkpoint_overdue")
        if a.status != AlertStatus.RESOLVED
    }


def test_a_finding_above_the_threshold_raises_its_alert_on_the_exam(fusion):
    exam = film(fusion, 200, ("screw_lucency_mm", 2.1, "L5", "left"))
    alert = evaluated(fusion)[("screw_loosening", "L5:left")]
    assert (alert.severity, alert.exam_id, alert.patient_id) == ("high", exam.pk, fusion.patient_id)


def test_the_clinics_threshold_is_used(fusion, paris):
    Thresholds.objects.create(clinic=paris, screw_lucency_mm=3)
    refresh.refresh(fusion.pk, DAY0, onto_current=True)  # pinned: a new version once re-planned
    film(fusion, 200, ("screw_lucency_mm", 2.5, "L5", "left"))
    assert ("screw_loosening", "L5:left") not in evaluated(fusion)


def test_evaluating_twice_gives_no_duplicate(fusion):
    film(fusion, 200, ("screw_lucency_mm", 2.5, "L5", "left"))
    evaluated(fusion)
    evaluated(fusion)
    assert Alert.objects.filter(code="screw_loosening").count() == 1


def test_the_same_cause_on_a_later_exam_updates_the_alert(fusion):
    film(fusion, 200, ("screw_lucency_mm", 2.5, "L5", "left"))
    later = film(fusion, 300, ("screw_lucency_mm", 3.5, "L5", "left"))
    alert = evaluated(fusion)[("screw_loosening", "L5:left")]
    assert alert.exam_id == later.pk
    assert "3.5" in alert.message
    assert Alert.objects.filter(code="screw_loosening").count() == 1


def test_a_changed_finding_resolves_its_alert_with_a_note(fusion):
    exam = film(fusion, 200, ("screw_lucency_mm", 2.5, "L5", "left"))
    evaluated(fusion)
    Finding.objects.filter(exam=exam).update(value=1.0)
    exam.save()  # the API and the admin always save the exam with its findings

    assert ("screw_loosening", "L5:left") not in evaluated(fusion)
    alert = Alert.objects.get(code="screw_loosening")
    assert alert.status == AlertStatus.RESOLVED
    assert alert.auto_resolved
    assert "Cause gone" in alert.resolution_note


def test_a_deleted_exam_resolves_the_alerts_it_raised(fusion):
    exam = film(fusion, 200, ("rod_fracture", True, "L4-L5", ""))
    evaluated(fusion)
    exam.delete()
    assert evaluated(fusion) == {}
    assert Alert.objects.get(code="hardware_fracture").status == AlertStatus.RESOLVED


def test_what_staff_resolved_is_not_raised_again_from_the_same_exam(fusion, django_user_model):
    film(fusion, 200, ("adjacent_segment_degeneration", True, "L3-L4", ""))
    alert = evaluated(fusion)[("adjacent_segment", "L3-L4:")]
    nurse = django_user_model.objects.create_user("nurse")
    alerts_lifecycle.resolve(alert, nurse, "Known, followed elsewhere", DAY0 + timedelta(201))

    assert ("adjacent_segment", "L3-L4:") not in evaluated(fusion)
    assert Alert.objects.filter(code="adjacent_segment").count() == 1
    # A new exam showing it again raises it again.
    film(fusion, 400, ("adjacent_segment_degeneration", True, "L3-L4", ""))
    assert ("adjacent_segment", "L3-L4:") in evaluated(fusion)


def test_spacer_migration_compares_with_the_film_that_satisfied_the_baseline(fusion):
    film(fusion, 10, ("spacer_posterior_distance_mm", 5.0, "L4-L5", ""))
    film(fusion, 730, ("spacer_posterior_distance_mm", 2.5, "L4-L5", ""))
    alert = evaluated(fusion)[("spacer_migration", "L4-L5:")]
    assert alert.severity == "high"
    assert "5.0 mm on the baseline film of day 10" in alert.message


def test_an_old_exam_entered_late_is_evaluated_in_its_place(fusion, paris):
    # In order: the baseline at day 10, then a two-year film: the spacer has moved.
    in_order = factories.surgery(factories.patient(paris), DAY0, procedure="tlif")
    refresh.refresh(in_order.pk, DAY0)
    for surgery, days in ((in_order, (10, 730)), (fusion, (730, 10))):
        for day in days:
            value = 5.0 if day == 10 else 2.5
            film(surgery, day, ("spacer_posterior_distance_mm", value, "L4-L5", ""))
            refresh.refresh(surgery.pk, DAY0 + timedelta(days=800))

    def causes(surgery):
        return {(code, subject, a.severity) for (code, subject), a in evaluated(surgery).items()}

    assert causes(fusion) == causes(in_order)
    assert ("spacer_migration", "L4-L5:", "high") in causes(fusion)
    assert not any(code == "baseline_missing" for code, _, _ in causes(fusion))


def test_a_film_before_any_baseline_raises_baseline_missing_until_one_arrives(fusion):
    film(fusion, 180, ("bridging", "partial", "L4-L5", ""))
    assert ("baseline_missing", "") in evaluated(fusion)
    film(fusion, 20)  # entered late, but in the baseline window
    assert ("baseline_missing", "") not in evaluated(fusion)
