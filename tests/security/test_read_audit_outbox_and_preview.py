"""The admin's outbox shows no patient data; the digest preview, which lists patients by
MRN and initials, is audited as a read of those patients, with who read it."""

from django.test import Client
from django.utils import timezone

from followup.models import Alert, Email, Severity
from patients.models import RecordRead
from tests import factories


def urgent_alert(clinic):
    patient = factories.patient(clinic, mrn="MRN-4711", family_name="Zimmermann")
    surgery = factories.surgery(patient)
    return Alert.objects.create(
        clinic=clinic, patient=patient, surgery=surgery, code="abscess", subject="L4-L5:",
        severity=Severity.URGENT, message="Abscess at L4-L5.",
    )  # fmt: skip


def test_the_outbox_page_of_an_urgent_notice_shows_no_patient(staff_a):
    alert = urgent_alert(staff_a.clinic)
    email = Email.objects.create(
        key=f"urgent:{alert.pk}:{staff_a.user.pk}", kind="urgent", clinic=staff_a.clinic,
        user=staff_a.user, recipient="alice@example.org", alert=alert,
        subject="[clinic-a] URGENT abscess: MRN-4711 (ZZ)", next_attempt_at=timezone.now(),
    )  # fmt: skip
    browser = Client()
    browser.force_login(staff_a.user)

    for url in ("/admin/followup/email/", f"/admin/followup/email/{email.pk}/change/"):
        page = browser.get(url)
        assert page.status_code == 200, url
        assert "MRN-4711" not in page.content.decode(), url


def test_the_digest_preview_is_a_read_of_the_patients_it_lists(staff_a):
    alert = urgent_alert(staff_a.clinic)
    browser = Client()
    browser.force_login(staff_a.user)

    page = browser.get(f"/admin/patients/clinic/{staff_a.clinic.pk}/digest-preview/")

    assert page.status_code == 200
    assert "MRN-4711" in page.content.decode()
    read = RecordRead.objects.get(endpoint__contains="digest-preview")
    assert (read.user, read.clinic, read.patient_ids) == (
        staff_a.user,
        staff_a.clinic,
        [alert.patient_id],
    )
