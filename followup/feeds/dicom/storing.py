"""A study's instance (or a study the PACS lists) lands as the exam it belongs to, through
the REST API's serializer: the same validation, the same audit (a pghistory context
naming the source as the actor), the same stale marks and refresh (the exam's signals).

One study is one exam per clinic, found by its Study Instance UID, else by its accession
number on an exam that has no UID yet (an exam an EHR or HL7 recorded before the images
came). An existing exam keeps its time and its surgery; it takes the UID and accession
number it lacked, and the modality of a higher-ranked instance (`headers.RANK`).

A dose report is kept once per SOP Instance UID (`DoseReport`); the exam's effective
dose is then computed again from its reports: per kind (CT, projection), the largest
report's, so a report sent twice, or two reports of one study where the later one
accumulates the earlier's events, is counted once.
"""

import logging
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

import pghistory
from django.db import IntegrityError, transaction
from django.db.models import F
from django.db.models.functions import Greatest
from rest_framework import serializers

from followup.models import DicomSource, DoseCoefficient, DoseReport, DroppedStudy
from followup.pipeline import merging
from imaging.api.serializers import ExamSerializer
from imaging.models import ImagingExam
from patients.locks import lock_patients
from patients.models import Patient

from ..acting import FeedRequest
from .dose import DoseReading
from .headers import RANK, StudyHeader

log = logging.getLogger(__name__)


class Outcome:
    STORED = "stored"  # an exam was created or changed
    UNCHANGED = "unchanged"  # the exam already says all this instance says
    DROPPED = "dropped"  # a patient the clinic does not follow
    REFUSED = "refused"  # the REST API would refuse it: the reason is kept, no value


class StudySerializer(ExamSerializer):
    """The REST API's exam; a study known to the PACS may have no accession number (the
    model then holds its Study Instance UID)."""

    accession_number = serializers.CharField(max_length=64, required=False, allow_blank=True)


@dataclass
class Writer:
    """Writes what one sender (a DICOM source, or the PACS sync) sends into one clinic."""

    clinic_id: int
    actor: str
    source: DicomSource | None = None
    refusal: str = ""  # the last refusal's reason
    counts: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.request = FeedRequest(self.clinic_id, self.actor)

    def count(self, outcome: str) -> str:
        self.counts[outcome] = self.counts.get(outcome, 0) + 1
        return outcome

    def patient(self, mrn: str) -> Patient | None:
        """The clinic's patient with this MRN, or the one it was merged into (HL7 A40)."""
        return merging.resolve_mrn(self.clinic_id, mrn)

    def existing_exam(self, header: StudyHeader) -> ImagingExam | None:
        exams = ImagingExam.objects.filter(clinic_id=self.clinic_id)
        if found := exams.filter(study_instance_uid=header.study_uid).first():
            return found
        if header.accession:
            return exams.filter(accession_number=header.accession, study_instance_uid="").first()
        return None

    def store(
        self, header: StudyHeader, now: datetime, dose: DoseReading | None = None
    ) -> tuple[str, ImagingExam | None]:
        """One instance: the exam it belongs to, created or brought up to date."""
        try:
            with transaction.atomic():
                patient = self.patient(header.patient_id)
                if patient is None:
                    self._drop(header, now)
                    return self.count(Outcome.DROPPED), None
                lock_patients([patient.pk])
                with pghistory.context(feed=self.actor):
                    exam, changed = self._exam(patient, header, dose)
                    if dose is not None:
                        changed |= self._dose(exam, header, dose, now)
        except serializers.ValidationError as error:
            self.refusal = _reason(error.detail)
            log.info("DICOM study refused by %s: %s", self.actor, self.refusal)
            return self.count(Outcome.REFUSED), None
        except IntegrityError:
            # Two associations created the same study at once: the second is refused by
            # the unique constraint and sent again by the modality, or found next time.
            self.refusal = "Conflicts with an exam saved at the same time."
            return self.count(Outcome.REFUSED), None
        return self.count(Outcome.STORED if changed else Outcome.UNCHANGED), exam

    def _exam(
        self, patient: Patient, header: StudyHeader, dose: DoseReading | None
    ) -> tuple[ImagingExam, bool]:
        existing = self.existing_exam(header)
        modality = header.modality or (dose.modality if dose else None)
        if existing is None:
            if modality is None:
                raise serializers.ValidationError(
                    {"modality": "The study's first instance is of no exam modality."}
                )
            data = {"patient": patient.pk, "modality": modality,
                    "performed_at": header.performed_at,
                    "study_instance_uid": header.study_uid,
                    "accession_number": header.accession}  # fmt: skip
            return self._save(data, None), True
        if existing.patient_id != patient.pk:
            raise serializers.ValidationError(
                {"patient": "This study is the exam of another patient of the clinic."}
            )
        data = {}
        if not existing.study_instance_uid:
            data["study_instance_uid"] = header.study_uid
        if header.accession and not existing.accession_number:
            data["accession_number"] = header.accession
        if modality and RANK[modality] > RANK[existing.modality]:
            data["modality"] = modality
        if not data:
            return existing, False
        return self._save(data, existing), True

    def _save(self, data: dict, existing: ImagingExam | None) -> ImagingExam:
        serializer = StudySerializer(
            existing, data=data, partial=existing is not None, context={"request": self.request}
        )
        serializer.is_valid(raise_exception=True)
        return serializer.save()

    def _dose(self, exam: ImagingExam, header: StudyHeader, dose: DoseReading, now) -> bool:
        """Kept once per SR instance; the exam's dose computed again from its reports."""
        if DoseReport.objects.filter(
            clinic_id=self.clinic_id, sop_instance_uid=header.sop_instance_uid
        ).exists():
            return False
        coefficient = DoseCoefficient.objects.current(self.clinic_id, dose.kind, dose.region)
        effective = (
            (dose.accumulated * coefficient.value).quantize(Decimal("0.001"))
            if coefficient
            else None
        )
        DoseReport.objects.create(
            clinic_id=self.clinic_id, exam=exam, sop_instance_uid=header.sop_instance_uid,
            kind=dose.kind, accumulated=dose.accumulated.quantize(Decimal("0.0001")),
            from_events=dose.from_events, region=dose.region, coefficient=coefficient,
            coefficient_value=coefficient.value if coefficient else None,
            effective_dose_msv=effective, source=self.source, received_at=now,
        )  # fmt: skip
        return self.update_dose(exam)

    def update_dose(self, exam: ImagingExam) -> bool:
        """The exam's dose from its reports, saved through the serializer if it changed."""
        total = exam_dose(exam)
        if total == exam.effective_dose_msv:
            return False
        self._save({"effective_dose_msv": total}, exam)
        return True

    def _drop(self, header: StudyHeader, now: datetime) -> None:
        if self.source is None:
            return
        dropped, created = DroppedStudy.objects.get_or_create(
            source=self.source, study_instance_uid=header.study_uid,
            defaults={"first_at": now, "last_at": now, "instances": 1},
        )  # fmt: skip
        if not created:
            DroppedStudy.objects.filter(pk=dropped.pk).update(
                instances=F("instances") + 1, last_at=Greatest("last_at", now)
            )


def complete_doses(reports, actor: str) -> int:
    """The reports kept without an effective dose (no coefficient was in force for their
    kind and region) computed with the coefficient in force now, and their exams' doses
    with them; a dose already computed is never computed again. How many were completed."""
    completed = 0
    for report in reports.filter(effective_dose_msv=None).select_related("exam"):
        coefficient = DoseCoefficient.objects.current(report.clinic_id, report.kind, report.region)
        if coefficient is None:
            continue
        with transaction.atomic():
            lock_patients([report.exam.patient_id])
            report.coefficient, report.coefficient_value = coefficient, coefficient.value
            report.effective_dose_msv = (report.accumulated * coefficient.value).quantize(
                Decimal("0.001")
            )
            report.save(update_fields=["coefficient", "coefficient_value", "effective_dose_msv"])
            Writer(report.clinic_id, actor).update_dose(report.exam)
        completed += 1
    return completed


def exam_dose(exam: ImagingExam) -> Decimal | None:
    """Per kind, the largest effective dose of the exam's reports; summed over kinds."""
    largest: dict[str, Decimal] = {}
    for kind, dose in exam.dose_reports.exclude(effective_dose_msv=None).values_list(
        "kind", "effective_dose_msv"
    ):
        largest[kind] = max(largest.get(kind, dose), dose)
    return sum(largest.values(), Decimal(0)) if largest else exam.effective_dose_msv


def _reason(detail) -> str:
    """The first field and message of a serializer's error: no value, so no PHI."""
    if isinstance(detail, dict):
        for name, value in detail.items():
            return f"{name}: {_reason(value)}"
    if isinstance(detail, list) and detail:
        return _reason(detail[0])
    return str(detail)[:300]
