"""One clinic's worth of follow-up, the same for an undisturbed run and a disturbed one,
and the state it ends in, in a form two clinics can be compared by.

The cases are exams that raise findings alerts (CLINICAL_RULES §4, the same cases as
tests/followup/test_worker_rules.py), on fusions done in 2023: by now every checkpoint
of theirs is either satisfied by an exam or overdue, so the sweep raises its alerts too.
"""

from collections import Counter
from datetime import datetime, time, timedelta

from django.db.models import Q

from followup.models import Alert, Checkpoint
from followup.models.checkpoints import PENDING
from imaging.models import ImagingExam
from patients.models import ApiClient, Clinic, Patient, Surgery
from tests import factories
from tests.followup.test_worker_rules import CASES, DAY0, PARIS

# Codes whose first example raises them; an urgent one among them (abscess).
CODES = ["screw_loosening", "hardware_fracture", "abscess", "delayed_fusion",
         "spacer_migration", "cumulative_dose"]  # fmt: skip
SURGERY_AT = datetime.combine(DAY0, time(8, 0), tzinfo=PARIS)


def clinic(slug: str, **fields) -> Clinic:
    return Clinic.objects.create(slug=slug, name=slug.title(), timezone="Europe/Paris", **fields)


def integration(clinic: Clinic):
    """An API client of the clinic with a rate limit no drill reaches."""
    from rest_framework.test import APIClient

    client, token = ApiClient.issue(clinic, f"EHR of {clinic.slug}")
    client.rate_limit_per_minute = 100_000
    client.save(update_fields=["rate_limit_per_minute"])
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return api


def exam_body(patient_id: int, code: str, index: int, exam) -> dict:
    day, modality, contrast, dose, findings = exam
    performed = datetime.combine(DAY0 + timedelta(days=day), time(10, 0), tzinfo=PARIS)
    return {
        "patient": patient_id, "modality": modality, "contrast": contrast,
        "performed_at": performed.isoformat(), "accession_number": f"{code}-{index}",
        "effective_dose_msv": dose,
        "findings": [{"code": c, "value": v, "level": lv, "side": s} for c, v, lv, s in findings],
    }  # fmt: skip


def surgery_body(patient_id: int) -> dict:
    return {
        "patient": patient_id, "performed_at": SURGERY_AT.isoformat(), "procedure": "tlif",
        "levels": ["L4-L5"], "hardware": ["pedicle_screws", "rods", "interbody_cage"],
    }  # fmt: skip


def post_through_api(api, clinic: Clinic, codes=CODES) -> list:
    """A patient per code, operated in 2023, with the exams that raise the code: each
    surgery and exam through the API. Returns every response."""
    responses = []
    for code in codes:
        patient = factories.patient(clinic, mrn=code)
        responses.append(api.post("/api/v1/surgeries/", surgery_body(patient.pk), format="json"))
        for index, exam in enumerate(CASES[code][0]):
            body = exam_body(patient.pk, code, index, exam)
            responses.append(api.post("/api/v1/exams/", body, format="json"))
    return responses


def build_directly(clinic: Clinic, codes=CODES) -> list[int]:
    """The same records written straight to the database (the caller decides whether the
    nudges go out); returns the surgeries' ids."""
    surgeries = []
    for code in codes:
        patient = factories.patient(clinic, mrn=code)
        surgery = factories.surgery(patient, SURGERY_AT, procedure="tlif", levels=["L4-L5"])
        for index, exam in enumerate(CASES[code][0]):
            body = exam_body(patient.pk, code, index, exam)
            findings = [{"code": c, "value": v, "level": lv, "side": s}
                        for c, v, lv, s in exam[4]]  # fmt: skip
            factories.exam(
                patient, surgery, findings, modality=body["modality"], contrast=body["contrast"],
                performed_at=datetime.fromisoformat(body["performed_at"]),
                accession_number=body["accession_number"], effective_dose_msv=body[
                    "effective_dose_msv"],
            )  # fmt: skip
        surgeries.append(surgery.pk)
    return sorted(surgeries)


def settled(*clinics: Clinic, now: datetime | None = None) -> bool:
    """Nothing left to do: no stale surgery, no overdue checkpoint without its alert."""
    from django.utils import timezone

    now = now or timezone.now()
    stale = Surgery.objects.filter(patient__clinic__in=clinics, plan__stale_since__isnull=False)
    waiting = Checkpoint.objects.filter(PENDING, clinic__in=clinics, overdue_at__lte=now)
    return not stale.exists() and not waiting.exists()


def state(clinic: Clinic) -> dict:
    """Per patient (by MRN): its checkpoints and every alert, with ids replaced by what
    they stand for, so that two clinics that went through the same can be compared."""
    accession = dict(
        ImagingExam.objects.filter(clinic=clinic).values_list("pk", "accession_number")
    )
    checkpoint_code = dict(Checkpoint.objects.filter(clinic=clinic).values_list("pk", "code"))
    result = {}
    for patient in Patient.objects.filter(clinic=clinic).order_by("mrn"):
        checkpoints = sorted(
            (c.code, c.due_at, accession.get(c.satisfied_by_id), c.overdue_since is not None)
            for c in Checkpoint.objects.filter(patient=patient)
        )
        alerts = sorted(
            (a.code, _subject(a.subject, checkpoint_code, accession), a.severity, a.status,
             accession.get(a.exam_id), a.message.split(" was due")[0])
            for a in Alert.objects.filter(patient=patient)
        )  # fmt: skip
        result[patient.mrn] = {"checkpoints": checkpoints, "alerts": alerts}
    return result


def assert_same_state(disturbed: Clinic, undisturbed: Clinic) -> None:
    mine, reference = state(disturbed), state(undisturbed)
    assert mine.keys() == reference.keys()
    for mrn, expected in reference.items():
        assert (mrn, mine[mrn]["checkpoints"]) == (mrn, expected["checkpoints"])
        assert (mrn, mine[mrn]["alerts"]) == (mrn, expected["alerts"])


def _subject(subject: str, checkpoint_code: dict, accession: dict) -> str:
    kind, _, pk = subject.partition(":")
    if not pk.isdigit():
        return subject
    if kind == "checkpoint":
        return f"checkpoint:{checkpoint_code.get(int(pk))}"
    if kind == "exam":
        return f"exam:{accession.get(int(pk))}"
    return subject


def duplicates(clinic: Clinic) -> list:
    """Causes with more than one alert, open or closed: none may exist after a drill."""
    causes = Counter(
        Alert.objects.filter(clinic=clinic).values_list("surgery_id", "code", "subject")
    )
    return [cause for cause, n in causes.items() if n > 1]


def finding_codes(clinic: Clinic) -> set[str]:
    return set(
        Alert.objects.filter(clinic=clinic)
        .filter(~Q(code__in=["checkpoint_overdue", "workup_overdue"]))
        .values_list("code", flat=True)
    )
