"""Small builders for test data; each takes only what a test cares about."""

from datetime import datetime
from itertools import count

from django.utils import timezone

from imaging.models import Finding, ImagingExam
from patients.models import Clinic, Patient, Surgery

_serial = count(1)


def patient(clinic: Clinic, **fields) -> Patient:
    n = next(_serial)
    fields.setdefault("mrn", f"MRN{n:05d}")
    fields.setdefault("family_name", f"Family{n}")
    fields.setdefault("given_name", f"Given{n}")
    return Patient.objects.create(clinic=clinic, **fields)


def surgery(patient: Patient, performed_at: datetime | None = None, **fields) -> Surgery:
    fields.setdefault("procedure", "tlif")
    fields.setdefault("levels", ["L4-L5"])
    fields.setdefault("hardware", ["pedicle_screws", "rods", "interbody_cage"])
    performed_at = performed_at or timezone.now() - timezone.timedelta(days=30)
    return Surgery.objects.create(patient=patient, performed_at=performed_at, **fields)


def exam(patient: Patient, surgery: Surgery | None = None, findings=(), **fields) -> ImagingExam:
    fields.setdefault("modality", "XR")
    fields.setdefault("accession_number", f"ACC{next(_serial):06d}")
    fields.setdefault("performed_at", timezone.now() - timezone.timedelta(days=1))
    created = ImagingExam.objects.create(patient=patient, surgery=surgery, **fields)
    Finding.objects.bulk_create(Finding(exam=created, **finding) for finding in findings)
    return created
