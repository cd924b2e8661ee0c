"""/api/v1/exams/: create with findings, upsert by accession number, attach to a surgery, PATCH."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from imaging.models import Finding, ImagingExam
from tests import factories

WRITERS = ["staff_a", "integration_a"]


def at(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(tzinfo=UTC)


@pytest.fixture(params=WRITERS)
def writer(request):
    return request.getfixturevalue(request.param)


@pytest.fixture
def patient_a(clinic_a):
    return factories.patient(clinic_a)


@pytest.fixture
def surgery_a(patient_a):
    return factories.surgery(patient_a, performed_at=at("2026-01-10T08:00:00"))


def payload(patient, **fields) -> dict:
    return {
        "patient": patient.pk,
        "modality": "XR",
        "contrast": "none",
        "performed_at": "2026-03-01T09:30:00+01:00",
        "views": ["AP", "lateral"],
        "accession_number": "ACC-1",
        "study_instance_uid": "1.2.840.1.1",
        "effective_dose_msv": "0.150",
        "report": "Screws in place.",
        "findings": [
            {"code": "bridging", "value": "partial", "level": "L4-L5"},
            {"code": "screw_lucency_mm", "value": 1.5, "level": "L5", "side": "left"},
            {"code": "vacuum_disc", "value": False, "level": "L4-L5"},
        ],
    } | fields


def findings_of(exam_id: int) -> set[tuple]:
    rows = Finding.objects.filter(exam_id=exam_id).values_list("code", "value", "level", "side")
    return set(rows)


def test_create_exam_with_its_findings_in_one_request(writer, patient_a, surgery_a):
    response = writer.api.post("/api/v1/exams/", payload(patient_a), format="json")

    assert response.status_code == 201, response.content
    exam = ImagingExam.objects.get(pk=response.json()["id"])
    assert (exam.patient, exam.clinic_id) == (patient_a, patient_a.clinic_id)
    assert (exam.modality, exam.views, exam.accession_number) == ("XR", ["AP", "lateral"], "ACC-1")
    assert exam.effective_dose_msv == Decimal("0.150")
    assert findings_of(exam.pk) == {
        ("bridging", "partial", "L4-L5", ""),
        ("screw_lucency_mm", 1.5, "L5", "left"),
        ("vacuum_disc", False, "L4-L5", ""),
    }


def test_created_exam_answers_with_its_findings(integration_a, patient_a, surgery_a):
    body = integration_a.api.post("/api/v1/exams/", payload(patient_a), format="json").json()
    assert {finding["code"] for finding in body["findings"]} == {
        "bridging",
        "screw_lucency_mm",
        "vacuum_disc",
    }
    assert body["surgery"] == surgery_a.pk


def test_retrieve_exam_shows_the_contract_fields(integration_a, patient_a, surgery_a):
    exam = factories.exam(
        patient_a, surgery_a, findings=[{"code": "rod_fracture", "value": True, "side": "left"}]
    )
    body = integration_a.api.get(f"/api/v1/exams/{exam.pk}/").json()
    assert {
        "id", "patient", "surgery", "modality", "contrast", "performed_at", "views",
        "accession_number", "study_instance_uid", "effective_dose_msv", "report", "findings",
    } <= set(body)  # fmt: skip
    rod = {"code": "rod_fracture", "value": True, "level": "", "side": "left"}
    assert body["findings"] == [rod]


def test_reposting_the_accession_number_updates_the_same_exam(writer, patient_a, surgery_a):
    first = writer.api.post("/api/v1/exams/", payload(patient_a), format="json")
    assert first.status_code == 201

    again = writer.api.post(
        "/api/v1/exams/",
        payload(
            patient_a,
            report="Amended: lucency around the left L5 screw.",
            findings=[{"code": "screw_lucency_mm", "value": 2.5, "level": "L5", "side": "left"}],
        ),
        format="json",
    )

    assert again.status_code == 200, again.content
    assert again.json()["id"] == first.json()["id"]
    assert ImagingExam.objects.filter(accession_number="ACC-1").count() == 1
    exam = ImagingExam.objects.get()
    assert exam.report == "Amended: lucency around the left L5 screw."
    assert findings_of(exam.pk) == {("screw_lucency_mm", 2.5, "L5", "left")}
    assert [f["value"] for f in again.json()["findings"]] == [2.5]


def test_reposting_with_a_bad_finding_leaves_the_exam_as_it_was(integration_a, patient_a):
    created = integration_a.api.post("/api/v1/exams/", payload(patient_a), format="json")
    exam_id = created.json()["id"]
    before = findings_of(exam_id)

    response = integration_a.api.post(
        "/api/v1/exams/",
        payload(patient_a, report="Changed", findings=[{"code": "bridging", "value": "maybe"}]),
        format="json",
    )

    assert response.status_code == 400
    assert "value" in response.json()["findings"]["0"]
    assert ImagingExam.objects.get(pk=exam_id).report == "Screws in place."
    assert findings_of(exam_id) == before


def test_accession_number_of_another_patients_exam_is_refused(integration_a, patient_a, clinic_a):
    factories.exam(factories.patient(clinic_a), accession_number="ACC-1")
    response = integration_a.api.post("/api/v1/exams/", payload(patient_a), format="json")
    assert response.status_code == 400
    assert "accession_number" in response.json()
    assert ImagingExam.objects.filter(patient=patient_a).count() == 0


def test_surgery_left_out_attaches_the_latest_surgery_before_the_exam(
    integration_a, patient_a, clinic_a
):
    factories.surgery(patient_a, performed_at=at("2025-06-01T08:00:00"))
    latest_before = factories.surgery(patient_a, performed_at=at("2026-01-10T08:00:00"))
    factories.surgery(patient_a, performed_at=at("2026-04-01T08:00:00"))  # after the exam
    # Another patient's surgery, closer in time, is not this patient's.
    factories.surgery(factories.patient(clinic_a), performed_at=at("2026-02-20T08:00:00"))

    response = integration_a.api.post("/api/v1/exams/", payload(patient_a), format="json")

    assert response.status_code == 201, response.content
    assert response.json()["surgery"] == latest_before.pk
    assert ImagingExam.objects.get().surgery == latest_before


def test_surgery_left_out_is_null_when_no_surgery_came_before(integration_a, patient_a):
    factories.surgery(patient_a, performed_at=at("2026-04-01T08:00:00"))

    response = integration_a.api.post("/api/v1/exams/", payload(patient_a), format="json")

    assert response.status_code == 201, response.content
    assert response.json()["surgery"] is None
    assert ImagingExam.objects.get().surgery is None


def test_surgery_given_explicitly_is_kept(integration_a, patient_a):
    older = factories.surgery(patient_a, performed_at=at("2025-06-01T08:00:00"))
    factories.surgery(patient_a, performed_at=at("2026-01-10T08:00:00"))

    response = integration_a.api.post(
        "/api/v1/exams/", payload(patient_a, surgery=older.pk), format="json"
    )

    assert response.status_code == 201, response.content
    assert response.json()["surgery"] == older.pk


def test_date_alone_means_midnight_in_the_clinics_zone(integration_a, patient_a):
    response = integration_a.api.post(
        "/api/v1/exams/", payload(patient_a, performed_at="2026-03-01"), format="json"
    )
    assert response.status_code == 201, response.content
    assert response.json()["performed_at"] == "2026-02-28T23:00:00Z"
    assert ImagingExam.objects.get().performed_at == at("2026-02-28T23:00:00")


def test_time_without_offset_is_in_the_clinics_zone(integration_a, patient_a):
    response = integration_a.api.post(
        "/api/v1/exams/", payload(patient_a, performed_at="2026-07-01T10:00:00"), format="json"
    )
    assert response.status_code == 201, response.content
    assert ImagingExam.objects.get().performed_at == at("2026-07-01T08:00:00")  # Paris, summer


def test_date_alone_is_the_whole_day_in_the_clinics_zone(integration_a, patient_a):
    """Surgery at 23:30 UTC on Feb 28 is 00:30 Paris on March 1: an exam dated March 1
    belongs to it (CLINICAL_RULES §2, "A date without a time"); one dated Feb 28 does not."""
    surgery = factories.surgery(patient_a, performed_at=at("2026-02-28T23:30:00"))
    response = integration_a.api.post(
        "/api/v1/exams/", payload(patient_a, performed_at="2026-03-01"), format="json"
    )
    assert response.status_code == 201, response.content
    assert response.json()["surgery"] == surgery.pk
    response = integration_a.api.post(
        "/api/v1/exams/",
        payload(
            patient_a,
            performed_at="2026-02-28",
            accession_number="ACC-EVE",
            study_instance_uid="1.2.840.1.2",
        ),
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["surgery"] is None


def test_patch_exam_changes_only_the_given_field(writer, patient_a, surgery_a):
    exam = factories.exam(
        patient_a, surgery_a, report="Old", findings=[{"code": "bridging", "value": "none"}]
    )
    response = writer.api.patch(f"/api/v1/exams/{exam.pk}/", {"report": "New"}, format="json")

    assert response.status_code == 200, response.content
    exam.refresh_from_db()
    assert (exam.report, exam.surgery) == ("New", surgery_a)
    assert findings_of(exam.pk) == {("bridging", "none", "", "")}


def test_patch_findings_replaces_them(integration_a, patient_a, surgery_a):
    exam = factories.exam(patient_a, surgery_a, findings=[{"code": "bridging", "value": "none"}])
    response = integration_a.api.patch(
        f"/api/v1/exams/{exam.pk}/",
        {"findings": [{"code": "bridging", "value": "complete", "level": "L4-L5"}]},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert findings_of(exam.pk) == {("bridging", "complete", "L4-L5", "")}
    assert response.json()["findings"][0]["value"] == "complete"


def test_patch_with_a_bad_finding_changes_nothing(integration_a, patient_a, surgery_a):
    exam = factories.exam(
        patient_a, surgery_a, report="Old", findings=[{"code": "bridging", "value": "none"}]
    )
    response = integration_a.api.patch(
        f"/api/v1/exams/{exam.pk}/",
        {"report": "New", "findings": [{"code": "screw_lucency_mm", "value": 21}]},
        format="json",
    )
    assert response.status_code == 400
    assert "value" in response.json()["findings"]["0"]
    exam.refresh_from_db()
    assert exam.report == "Old"
    assert findings_of(exam.pk) == {("bridging", "none", "", "")}


def test_patch_cannot_move_the_exam_before_its_surgery(integration_a, patient_a, surgery_a):
    exam = factories.exam(patient_a, surgery_a, performed_at=at("2026-03-01T08:00:00"))
    response = integration_a.api.patch(
        f"/api/v1/exams/{exam.pk}/", {"performed_at": "2025-12-01"}, format="json"
    )
    assert response.status_code == 400
    assert "performed_at" in response.json()
    exam.refresh_from_db()
    assert exam.performed_at == at("2026-03-01T08:00:00")


def test_patch_cannot_attach_a_surgery_after_the_exam(integration_a, patient_a, surgery_a):
    exam = factories.exam(patient_a, surgery_a, performed_at=at("2026-03-01T08:00:00"))
    later = factories.surgery(patient_a, performed_at=at("2026-04-01T08:00:00"))
    response = integration_a.api.patch(
        f"/api/v1/exams/{exam.pk}/", {"surgery": later.pk}, format="json"
    )
    assert response.status_code == 400
    assert "surgery" in response.json()
    exam.refresh_from_db()
    assert exam.surgery == surgery_a


def test_exam_cannot_move_to_another_patient(integration_a, patient_a, clinic_a):
    exam = factories.exam(patient_a)
    response = integration_a.api.patch(
        f"/api/v1/exams/{exam.pk}/", {"patient": factories.patient(clinic_a).pk}, format="json"
    )
    assert response.status_code == 400
    assert "patient" in response.json()
    exam.refresh_from_db()
    assert exam.patient == patient_a


@pytest.mark.parametrize(
    ("finding", "missing"),
    [({"code": "bridging"}, "value"), ({"value": "none"}, "code")],
)
def test_patch_with_an_incomplete_finding_is_refused(
    integration_a, patient_a, surgery_a, finding, missing
):
    """A PATCH is partial for the exam, not for each finding in the list."""
    exam = factories.exam(patient_a, surgery_a, findings=[{"code": "bridging", "value": "none"}])
    response = integration_a.api.patch(
        f"/api/v1/exams/{exam.pk}/", {"findings": [finding]}, format="json"
    )
    assert response.status_code == 400
    assert missing in response.json()["findings"]["0"]
    assert findings_of(exam.pk) == {("bridging", "none", "", "")}
