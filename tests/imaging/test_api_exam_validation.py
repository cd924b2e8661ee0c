"""POST /api/v1/exams/ refuses bad input with a 400 naming the field, and writes nothing."""

from datetime import timedelta

import pytest
from django.utils import timezone

from imaging.models import Finding, ImagingExam
from patients.models import Patient, Surgery
from tests import factories

WRITERS = ["staff_a", "integration_a"]


@pytest.fixture(params=WRITERS)
def writer(request):
    return request.getfixturevalue(request.param)


@pytest.fixture
def patient_a(clinic_a):
    patient = factories.patient(clinic_a)
    factories.surgery(patient, performed_at=timezone.now() - timedelta(days=400))
    return patient


def row_counts() -> dict[str, int]:
    models = (Patient, Surgery, ImagingExam, Finding)
    return {model.__name__: model.objects.count() for model in models}


def payload(patient, **fields) -> dict:
    return {
        "patient": patient.pk,
        "modality": "CT",
        "performed_at": (timezone.now() - timedelta(days=1)).isoformat(),
        "accession_number": "ACC-V",
    } | fields


def with_finding(patient, **finding) -> dict:
    """A good finding first, so that the bad one is at index 1."""
    good = {"code": "bridging", "value": "partial", "level": "L4-L5"}
    return payload(patient, findings=[good, finding])


def post(persona, body: dict):
    return persona.api.post("/api/v1/exams/", body, format="json")


def post_refused(persona, body: dict, *path: str):
    """POST must answer 400 with errors at `path` (e.g. findings, 1, code) and write nothing."""
    before = row_counts()
    response = post(persona, body)
    assert response.status_code == 400, response.content
    errors = response.json()
    for key in path:
        assert key in errors, (path, response.json())
        errors = errors[key]
    assert row_counts() == before
    return errors


def finding_refused(persona, patient, field: str, **finding):
    """The finding at index 1 is refused, its `field` named."""
    return post_refused(persona, with_finding(patient, **finding), "findings", "1", field)


def test_a_good_exam_is_accepted(writer, patient_a):
    """The payload used below is good apart from the one bad value each test puts in."""
    response = post(writer, with_finding(patient_a, code="screw_lucency_mm", value=2.0))
    assert response.status_code == 201, response.content


# Findings


def test_unknown_finding_code_is_refused(writer, patient_a):
    finding_refused(writer, patient_a, "code", code="screw_wobble", value=True)


@pytest.mark.parametrize("value", [0, 2.0, 20])
def test_screw_lucency_inside_its_range_is_accepted(integration_a, patient_a, value):
    response = post(integration_a, with_finding(patient_a, code="screw_lucency_mm", value=value))
    assert response.status_code == 201, response.content
    assert Finding.objects.get(code="screw_lucency_mm").value == float(value)


@pytest.mark.parametrize("value", [20.5, -1, -0.1, 1000])
def test_screw_lucency_outside_its_range_is_refused(writer, patient_a, value):
    errors = finding_refused(writer, patient_a, "value", code="screw_lucency_mm", value=value)
    assert "between 0 and 20" in str(errors)


@pytest.mark.parametrize("value", [-10, -2.5, 30])
def test_spacer_distance_may_be_negative_within_its_range(integration_a, patient_a, value):
    finding = {"code": "spacer_posterior_distance_mm", "value": value, "level": "L4-L5"}
    response = post(integration_a, payload(patient_a, findings=[finding]))
    assert response.status_code == 201, response.content


@pytest.mark.parametrize("value", [-10.5, 30.5])
def test_spacer_distance_outside_its_range_is_refused(writer, patient_a, value):
    finding_refused(writer, patient_a, "value", code="spacer_posterior_distance_mm", value=value)


@pytest.mark.parametrize("value", ["NaN", "Infinity", "2 mm", [2], {"mm": 2}, None])
def test_screw_lucency_that_is_not_a_finite_number_is_refused(writer, patient_a, value):
    finding_refused(writer, patient_a, "value", code="screw_lucency_mm", value=value)


@pytest.mark.parametrize("value", ["true", "yes", 1, 0, None])
def test_string_or_number_for_a_boolean_is_refused(writer, patient_a, value):
    finding_refused(writer, patient_a, "value", code="vacuum_disc", value=value)


@pytest.mark.parametrize("value", [True, False])
def test_boolean_for_a_number_is_refused(writer, patient_a, value):
    finding_refused(writer, patient_a, "value", code="screw_lucency_mm", value=value)


@pytest.mark.parametrize(
    ("code", "value"),
    [("bridging", "maybe"), ("bridging", "Complete"), ("fluid_collection", "pus"), ("bridging", 1)],
)
def test_finding_value_outside_its_choices_is_refused(writer, patient_a, code, value):
    finding_refused(writer, patient_a, "value", code=code, value=value)


@pytest.mark.parametrize("level", ["L9", "L5-L4", "Lumbar 5"])
def test_finding_with_a_bad_level_is_refused(writer, patient_a, level):
    finding_refused(writer, patient_a, "level", code="vacuum_facet", value=True, level=level)


@pytest.mark.parametrize("side", ["both", "Left", "L"])
def test_finding_with_a_bad_side_is_refused(writer, patient_a, side):
    finding_refused(writer, patient_a, "side", code="vacuum_facet", value=True, side=side)


def test_finding_without_a_value_is_refused(writer, patient_a):
    finding_refused(writer, patient_a, "value", code="rod_fracture")


def test_same_finding_twice_at_the_same_site_is_refused(writer, patient_a):
    twice = {"code": "bridging", "value": "none", "level": "L4-L5"}
    post_refused(writer, with_finding(patient_a, **twice), "findings")


def test_same_finding_at_two_sites_is_accepted(integration_a, patient_a):
    left = {"code": "screw_lucency_mm", "value": 1, "level": "L5", "side": "left"}
    right = {"code": "screw_lucency_mm", "value": 3, "level": "L5", "side": "right"}
    response = post(integration_a, payload(patient_a, findings=[left, right]))
    assert response.status_code == 201, response.content
    assert Finding.objects.count() == 2


# The exam's own fields


@pytest.mark.parametrize(
    ("field", "value"),
    [("modality", "MRI"), ("modality", "xr"), ("contrast", "barium"), ("contrast", None)],
)
def test_exam_field_outside_its_choices_is_refused(writer, patient_a, field, value):
    post_refused(writer, payload(patient_a, **{field: value}), field)


def test_view_outside_its_choices_is_refused(writer, patient_a):
    errors = post_refused(writer, payload(patient_a, views=["AP", "sideways"]), "views")
    assert "1" in errors


@pytest.mark.parametrize("dose", ["-0.001", -1, True, "a lot", "12345.6789"])
def test_bad_effective_dose_is_refused(writer, patient_a, dose):
    post_refused(writer, payload(patient_a, effective_dose_msv=dose), "effective_dose_msv")


def test_zero_effective_dose_is_accepted(integration_a, patient_a):
    response = post(integration_a, payload(patient_a, effective_dose_msv=0))
    assert response.status_code == 201, response.content


def test_future_performed_at_is_refused(writer, patient_a):
    tomorrow = (timezone.now() + timedelta(days=1)).isoformat()
    post_refused(writer, payload(patient_a, performed_at=tomorrow), "performed_at")


def test_future_date_alone_is_refused(writer, patient_a):
    in_two_days = (timezone.now() + timedelta(days=2)).date().isoformat()
    post_refused(writer, payload(patient_a, performed_at=in_two_days), "performed_at")


def test_missing_accession_number_is_refused(writer, patient_a):
    body = payload(patient_a)
    del body["accession_number"]
    post_refused(writer, body, "accession_number")


def test_exam_for_another_clinics_patient_is_refused(writer, clinic_b):
    patient_b = factories.patient(clinic_b)
    post_refused(writer, payload(patient_b), "patient")


def test_exam_for_a_missing_patient_is_refused(writer, db):
    post_refused(writer, payload(Patient(pk=999999999)), "patient")


def test_surgery_of_another_patient_is_refused(writer, patient_a, clinic_a):
    someone_else = factories.patient(clinic_a)
    their_surgery = factories.surgery(someone_else, timezone.now() - timedelta(days=90))
    post_refused(writer, payload(patient_a, surgery=their_surgery.pk), "surgery")


def test_surgery_after_the_exam_is_refused(writer, patient_a):
    later = factories.surgery(patient_a, performed_at=timezone.now() - timedelta(hours=1))
    post_refused(writer, payload(patient_a, surgery=later.pk), "surgery")


def test_study_instance_uid_of_another_patients_exam_is_refused(writer, patient_a, clinic_a):
    factories.exam(factories.patient(clinic_a), study_instance_uid="1.2.3")
    post_refused(writer, payload(patient_a, study_instance_uid="1.2.3"), "study_instance_uid")


def test_the_same_study_instance_uid_updates_the_exam(writer, patient_a):
    # [6/9]: an exam is matched by accession number or Study Instance UID.
    exam = factories.exam(patient_a, study_instance_uid="1.2.3", accession_number="OLD")
    response = post(writer, payload(patient_a, study_instance_uid="1.2.3"))
    assert response.status_code == 200, response.content
    assert response.json()["id"] == exam.pk
    assert ImagingExam.objects.filter(patient=patient_a).count() == 1


def test_a_number_sent_as_a_string_is_the_wrong_type(writer, patient_a):
    body = with_finding(patient_a, code="screw_lucency_mm", value="2.0", level="L5")
    post_refused(writer, body, "findings", "1", "value")
