"""The dose picture: the timeline API and the patient's admin page show each exam's effective
dose and the rolling total over the dose window (the cumulative_dose rule's sum)."""

from datetime import timedelta
from decimal import Decimal

import time_machine
from django.test import Client
from django.utils import timezone

from tests import factories

NOW = timezone.datetime(2026, 6, 1, 12, tzinfo=timezone.UTC)


def a_patient_with_doses(clinic):
    patient = factories.patient(clinic)
    surgery = factories.surgery(patient, performed_at=NOW - timedelta(days=500))
    for days, dose in ((400, "10"), (200, "8"), (10, "5"), (5, None)):
        factories.exam(patient, surgery, modality="CT" if dose else "XR",
                       performed_at=NOW - timedelta(days=days),
                       effective_dose_msv=Decimal(dose) if dose else None)  # fmt: skip
    return patient


@time_machine.travel(NOW, tick=False)
def test_the_timeline_shows_each_exams_dose_and_the_rolling_total(integration_a, clinic_a):
    patient = a_patient_with_doses(clinic_a)

    body = integration_a.api.get(f"/api/v1/patients/{patient.pk}/timeline/").json()

    assert body["dose"] == {"window_days": 365, "total_msv": "13.000",
                            "threshold_msv": "20.00", "above_threshold": False}  # fmt: skip
    exams = [(e["data"]["effective_dose_msv"], e["data"]["dose_window_msv"])
             for e in body["entries"] if e["type"] == "exam"]  # fmt: skip
    # 400 days ago drops out of the window of the later exams; an exam without a dose
    # adds nothing.
    assert exams == [("10.000", "10.000"), ("8.000", "18.000"), ("5.000", "13.000"),
                     (None, "13.000")]  # fmt: skip


@time_machine.travel(NOW, tick=False)
def test_the_patients_admin_page_shows_the_dose_and_the_total(staff_a, clinic_a):
    patient = a_patient_with_doses(clinic_a)
    browser = Client()
    browser.force_login(staff_a.user)

    page = browser.get(f"/admin/patients/patient/{patient.pk}/change/").content.decode()

    assert "<strong>13.000 mSv</strong> over the last 365 days; threshold 20.00 mSv." in page
    assert "<td>18.000</td>" in page
