"""Radiation Dose SRs sent to the listener: the study's effective dose from its accumulated
DLP (CT, TID 10011) or dose-area product (projection and fluoroscopy, TID 10001), times the
coefficient in force for the body region; counted once; feeding `cumulative_dose`."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from followup.models import Alert, DoseCoefficient, DoseReport
from followup.pipeline.refresh import refresh_many
from imaging.models import ImagingExam
from tests import factories

from . import objects
from .conftest import send
from .test_dicom_listener import a_week_ago


@pytest.fixture
def patient(ct1, ct_coefficients):
    patient = factories.patient(ct1.clinic, mrn="MRN-D")
    factories.surgery(patient, performed_at=timezone.now() - timedelta(days=60))
    return patient


def exam_dose() -> Decimal | None:
    return ImagingExam.objects.get().effective_dose_msv


def test_a_ct_dose_report_gives_the_study_its_effective_dose(listener, patient):
    study = objects.Study(patient.mrn, a_week_ago(), accession="D-1")
    report = objects.ct_dose_report(study, [(400, objects.LUMBAR), (100, objects.CHEST)], 500)

    assert send(listener.port, [objects.image(study, "CT"), report]) == [0, 0]

    # The accumulated DLP, never the events added to it: 500 mGy·cm x 0.015 (abdomen and
    # pelvis: the lumbar spine took most of the DLP).
    assert exam_dose() == Decimal("7.500")
    saved = DoseReport.objects.get()
    assert (saved.kind, saved.region, saved.accumulated) == ("ct_dlp", "abdomen_pelvis", 500)
    assert saved.coefficient.source.startswith("AAPM Report No. 96")


def test_a_dose_report_sent_twice_is_counted_once(listener, patient):
    study = objects.Study(patient.mrn, a_week_ago(), accession="D-2")
    report = objects.ct_dose_report(study, [(600, objects.LUMBAR)], 600)

    send(listener.port, [report])
    send(listener.port, [report, report])

    assert DoseReport.objects.count() == 1
    assert exam_dose() == Decimal("9.000")


def test_a_later_report_accumulating_the_earlier_ones_events_is_not_added(listener, patient):
    study = objects.Study(patient.mrn, a_week_ago(), accession="D-3")
    first = objects.ct_dose_report(study, [(300, objects.LUMBAR)], 300)
    whole = objects.ct_dose_report(study, [(300, objects.LUMBAR), (200, objects.LUMBAR)], 500)

    send(listener.port, [first])
    send(listener.port, [whole])

    assert DoseReport.objects.count() == 2
    assert exam_dose() == Decimal("7.500")  # 500 x 0.015, not 800 x 0.015


def test_a_report_without_a_total_counts_its_events(listener, patient):
    study = objects.Study(patient.mrn, a_week_ago(), accession="D-4")

    send(listener.port, [objects.ct_dose_report(study, [(200, objects.CHEST)] * 2)])

    assert exam_dose() == Decimal("5.600")  # 400 mGy·cm x 0.014 (chest)
    assert DoseReport.objects.get().from_events


def test_a_fluoroscopy_report_uses_the_clinics_dap_coefficient(listener, patient):
    DoseCoefficient.objects.create(
        clinic=patient.clinic, kind="projection_dap", region="abdomen_pelvis",
        value=Decimal("0.2"), source="The clinic's physicist (test value)",
    )  # fmt: skip
    study = objects.Study(patient.mrn, a_week_ago(), accession="D-5")

    # 0.0012 Gy·m² is 12 Gy·cm²; the report arrives before (and without) the images.
    send(listener.port, [objects.projection_dose_report(study, 0.0012, fluoro=True)])

    exam = ImagingExam.objects.get()
    assert (exam.modality, exam.effective_dose_msv) == ("RF", Decimal("2.400"))


def test_without_a_coefficient_the_report_is_kept_and_the_dose_left_unknown(listener, patient):
    study = objects.Study(patient.mrn, a_week_ago(), accession="D-6")

    send(listener.port, [objects.image(study, "DX"), objects.projection_dose_report(study, 0.01)])

    report = DoseReport.objects.get()
    assert (report.accumulated, report.effective_dose_msv) == (100, None)
    assert exam_dose() is None


def test_a_coefficient_edited_later_never_rewrites_a_recorded_dose(listener, patient):
    study = objects.Study(patient.mrn, a_week_ago(), accession="D-7")
    send(listener.port, [objects.ct_dose_report(study, [(100, objects.LUMBAR)], 100)])

    DoseCoefficient.objects.create(clinic=patient.clinic, kind="ct_dlp",
                                   region="abdomen_pelvis", value=Decimal("0.03"),
                                   source="A newer publication")  # fmt: skip

    assert exam_dose() == Decimal("1.500")
    later = objects.Study(patient.mrn, a_week_ago(), accession="D-8")
    send(listener.port, [objects.ct_dose_report(later, [(100, objects.LUMBAR)], 100)])
    assert ImagingExam.objects.get(accession_number="D-8").effective_dose_msv == Decimal("3.000")


def test_the_dose_feeds_the_cumulative_dose_rule(listener, patient, protocols):
    study = objects.Study(patient.mrn, a_week_ago(), accession="D-9")

    # 1,400 mGy·cm x 0.015 = 21 mSv: above the 20 mSv default threshold.
    send(listener.port, [objects.ct_dose_report(study, [(1400, objects.LUMBAR)], 1400)])
    refresh_many(patient.surgeries.values_list("pk", flat=True), timezone.now())

    alert = Alert.objects.get(code="cumulative_dose")
    assert alert.patient == patient


def test_storescu_of_a_ct_study_and_its_dose_report_shows_the_exam_with_its_dose(
    listener, patient, folder
):
    from .conftest import storescu

    study = objects.Study(patient.mrn, a_week_ago(), accession="D-10")
    paths = [objects.write(objects.image(study, "CT"), folder) for _ in range(3)]
    paths.append(objects.write(objects.ct_dose_report(study, [(800, objects.LUMBAR)], 800),
                               folder))  # fmt: skip

    result = storescu(listener.port, paths)

    assert result.returncode == 0, result.stderr
    exam = ImagingExam.objects.get()
    assert (exam.modality, exam.effective_dose_msv) == ("CT", Decimal("12.000"))


def test_a_manager_completes_the_doses_kept_without_a_coefficient(listener, patient):
    from django.test import Client

    from patients.models import Role
    from tests.conftest import make_staff

    study = objects.Study(patient.mrn, a_week_ago(), accession="D-11")
    send(listener.port, [objects.projection_dose_report(study, 0.005)])  # 50 Gy·cm²
    assert exam_dose() is None
    DoseCoefficient.objects.create(clinic=patient.clinic, kind="projection_dap",
                                   region="abdomen_pelvis", value=Decimal("0.1"),
                                   source="The clinic's physicist (test value)")  # fmt: skip
    browser = Client()
    browser.force_login(make_staff("mona", patient.clinic, Role.MANAGER))

    browser.post("/admin/followup/dosereport/", {
        "action": "complete_missing_doses",
        "_selected_action": list(DoseReport.objects.values_list("pk", flat=True)),
    })  # fmt: skip

    assert exam_dose() == Decimal("5.000")
    assert DoseReport.objects.get().coefficient_value == Decimal("0.1")
