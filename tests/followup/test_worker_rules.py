"""Through the API, with a real worker on Redis: every rule of §4 raises its alert at its
threshold and not below."""

from datetime import date, datetime, time, timedelta
from itertools import count
from zoneinfo import ZoneInfo

import pytest

from followup.models import Alert, SurgeryPlan
from tests import factories

from .test_worker_scheduling import wait_for

PARIS = ZoneInfo("Europe/Paris")
DAY0 = date(2023, 3, 6)
_accession = count(1)

# code: (exams that raise it, exams just below its threshold); an exam is
# (day, modality, contrast, dose, [(code, value, level, side)]).
CASES = {
    "screw_loosening": ([(200, "XR", "none", None, [("screw_lucency_mm", 2.1, "L5", "left")])],
                        [(200, "XR", "none", None, [("screw_lucency_mm", 2.0, "L5", "left")])]),
    "periscrew_infection": (
        [(180, "CT", "none", None, [("periscrew_margin", "ill_defined", "L5", "left")])],
        [(180, "CT", "none", None, [("periscrew_margin", "sclerotic_rim", "L5", "left")])]),
    "delayed_fusion": ([(271, "XR", "none", None, [("bridging", "none", "L4-L5", "")])],
                       [(270, "XR", "none", None, [("bridging", "none", "L4-L5", "")])]),
    "pseudarthrosis_suspected": (
        [(365, "CT", "none", None, [("bridging", "partial", "L4-L5", "")])],
        [(364, "CT", "none", None, [("bridging", "partial", "L4-L5", "")])]),
    "micromotion": ([(400, "CT", "none", None, [("vacuum_disc", True, "L4-L5", "")])],
                    [(400, "CT", "none", None, [("vacuum_disc", True, "L3-L4", "")])]),
    "locked_pseudarthrosis": (
        [(400, "CT", "none", None, [("vacuum_spacer_only", True, "L4-L5", "")])],
        [(400, "CT", "none", None, [("vacuum_spacer_only", False, "L4-L5", "")])]),
    "spacer_too_posterior": (
        [(20, "XR", "none", None, [("spacer_posterior_distance_mm", 1.9, "L4-L5", "")])],
        [(20, "XR", "none", None, [("spacer_posterior_distance_mm", 2.0, "L4-L5", "")])]),
    "spacer_migration": (
        [(10, "XR", "none", None, [("spacer_posterior_distance_mm", 5.0, "L4-L5", "")]),
         (700, "XR", "none", None, [("spacer_posterior_distance_mm", 2.9, "L4-L5", "")])],
        [(10, "XR", "none", None, [("spacer_posterior_distance_mm", 5.0, "L4-L5", "")]),
         (700, "XR", "none", None, [("spacer_posterior_distance_mm", 3.0, "L4-L5", "")])]),
    "hardware_fracture": ([(300, "XR", "none", None, [("rod_fracture", True, "", "left")])],
                          [(300, "XR", "none", None, [("rod_fracture", False, "", "left")])]),
    "screw_misplaced": ([(2, "CT", "none", None, [("screw_in_canal", True, "L5", "right")])],
                        [(2, "CT", "none", None, [("screw_in_canal", False, "L5", "right")])]),
    "abscess": ([(20, "MR", "gadolinium", None, [("fluid_collection", "abscess", "", "")])],
                [(20, "MR", "gadolinium", None, [("fluid_collection", "seroma", "", "")])]),
    "pseudomeningocele": (
        [(20, "MR", "none", None, [("fluid_collection", "pseudomeningocele", "", "")])],
        [(20, "MR", "none", None, [("fluid_collection", "none", "", "")])]),
    "radiculitis_possible": (
        [(183, "MR", "gadolinium", None, [("root_enhancement", True, "L5", "")])],
        [(182, "MR", "gadolinium", None, [("root_enhancement", True, "L5", "")])]),
    "herniation_recurrence": (
        [(100, "MR", "gadolinium", None, [("disc_herniation", "different_from_preop", "", "")])],
        [(100, "MR", "gadolinium", None, [("disc_herniation", "none", "", "")])]),
    "contrast_needed": (
        [(182, "MR", "none", None, [("disc_herniation", "similar_to_preop", "L5-S1", "")])],
        [(183, "MR", "none", None, [("disc_herniation", "similar_to_preop", "L5-S1", "")])]),
    "gadolinium_low_value": ([(184, "MR", "gadolinium", None, [])],
                             [(183, "MR", "gadolinium", None, [])]),
    "bone_scan_early": ([(364, "NM", "none", None, [("bone_scan_uptake", True, "L4-L5", "")])],
                        [(365, "NM", "none", None, [("bone_scan_uptake", True, "L4-L5", "")])]),
    "new_fracture": ([(300, "CT", "none", None, [("pars_fracture", True, "L3", "left")])],
                     [(300, "CT", "none", None, [("pars_fracture", False, "L3", "left")])]),
    "adjacent_segment": (
        [(700, "XR", "none", None, [("adjacent_segment_degeneration", True, "L3-L4", "")])],
        [(700, "XR", "none", None, [("adjacent_segment_degeneration", False, "L3-L4", "")])]),
    "sagittal_malalignment": (
        [(400, "XR", "none", None, [("pelvic_incidence_deg", 60, "", ""),
                                    ("lumbar_lordosis_deg", 49.9, "", "")])],
        [(400, "XR", "none", None, [("pelvic_incidence_deg", 60, "", ""),
                                    ("lumbar_lordosis_deg", 50, "", "")])]),
    "cumulative_dose": ([(100, "CT", "none", "20.1", [])], [(100, "CT", "none", "20.0", [])]),
    "modality_mismatch": ([(400, "MR", "none", None, [])],
                          [(400, "MR", "none", None, []), (401, "XR", "none", None, [])]),
    "baseline_missing": ([(180, "XR", "none", None, [])], [(10, "XR", "none", None, [])]),
}  # fmt: skip


def post_exam(persona, patient, day, modality, contrast, dose, findings):
    performed = datetime.combine(DAY0 + timedelta(days=day), time(10, 0), tzinfo=PARIS)
    body = {
        "patient": patient.pk, "modality": modality, "contrast": contrast,
        "performed_at": performed.isoformat(), "accession_number": f"R-{next(_accession)}",
        "effective_dose_msv": dose,
        "findings": [{"code": c, "value": v, "level": lv, "side": s} for c, v, lv, s in findings],
    }  # fmt: skip
    response = persona.api.post("/api/v1/exams/", body, format="json")
    assert response.status_code == 201, response.content


def followed(persona, exams) -> set[str]:
    patient = factories.patient(persona.clinic)
    surgery = factories.surgery(
        patient, datetime.combine(DAY0, time(8, 0), tzinfo=PARIS), procedure="tlif",
        levels=["L4-L5"],
    )  # fmt: skip
    for exam in exams:
        post_exam(persona, patient, *exam)
    wait_for(
        lambda: not SurgeryPlan.objects.filter(pk=surgery.pk, stale_since__isnull=False).exists()
    )
    return set(
        Alert.objects.filter(patient=patient)  # cumulative_dose is about the patient
        .exclude(code="checkpoint_overdue")
        .exclude(status="resolved")
        .values_list("code", flat=True)
    )


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("code", sorted(CASES))
def test_each_rule_fires_at_its_threshold_and_not_below(
    celery_worker_process, protocols, integration_a, code
):
    raising, below = CASES[code]
    assert code in followed(integration_a, raising)
    assert code not in followed(integration_a, below)


def test_every_rule_has_a_case():
    from followup.rules import RULES

    assert {rule.__name__ for rule in RULES} == set(CASES)
