"""Import a transaction Bundle: all or nothing, through the REST serializers.

Each resource is read into the data the REST API takes and saved by the same
serializer, so an import obeys every rule the REST API applies. Rows are matched by
identifier, and a matched row whose values would not change is not saved at all:
sending the same Bundle twice writes nothing the second time.

Matching: a Patient by any identifier of the clinic's MRN system (its MRN, or an
identifier of the patient's under that system), else by its MR identifier, else by
another of its identifiers; a Procedure by patient, procedure code and time (a surgery
has no identifier of its own); an ImagingStudy by accession number (type ACSN), else by
DICOM Study Instance UID, either being enough for a new exam; a DiagnosticReport by the
ImagingStudy it names, else by accession.
"""

import re
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import Q
from rest_framework import serializers
from rest_framework.request import Request

from imaging.api.serializers import ExamSerializer
from imaging.models import ImagingExam
from patients.api.serializers import PatientSerializer, SurgerySerializer
from patients.base.api.fields import ClinicDateTimeField, in_clinic_zone
from patients.base.api.scoping import writable_clinic_ids
from patients.locks import lock_patients
from patients.models import Clinic, Patient, Surgery

from . import codes, readers, search
from .bundles import Issue, base_url, flatten_errors, operation_outcome
from .entries import Entry, Refused, read_bundle
from .readers import Refusal

ELEMENTS = {
    "Patient": readers.PATIENT_ELEMENTS,
    "Procedure": readers.PROCEDURE_ELEMENTS,
    "ImagingStudy": readers.STUDY_ELEMENTS,
    "DiagnosticReport": readers.REPORT_ELEMENTS,
}
HTTP_STATUS = {"created": "201 Created", "updated": "200 OK", "unchanged": "200 OK"}


class StudySerializer(ExamSerializer):
    """The REST API's exam, known by its accession number or, from a PACS-side system,
    by its Study Instance UID alone (the model holds one of the two at least)."""

    accession_number = serializers.CharField(max_length=64, required=False, allow_blank=True)


@dataclass(frozen=True)
class Saved:
    row: object
    status: str  # created, updated or unchanged


def import_bundle(request: Request) -> dict:
    """The transaction-response Bundle, or `Refused` with nothing written."""
    entries = read_bundle(request.data)
    importer = Importer(request, _target_clinic(request), entries)
    with transaction.atomic():
        importer.run()
        if importer.issues:
            raise Refused([issue for _, issue in sorted(importer.issues, key=lambda p: p[0])])
    return importer.response()


def _target_clinic(request: Request) -> Clinic:
    writable = writable_clinic_ids(request)
    if len(writable) != 1:
        raise Refused(
            [
                Issue(
                    "business-rule",
                    "An import writes into one clinic and this account writes to "
                    f"{len(writable)}: use the clinic's integration token.",
                )
            ]
        )
    return Clinic.objects.get(pk=next(iter(writable)))


class Importer:
    def __init__(self, request: Request, clinic: Clinic, entries: list[Entry]):
        self.request, self.clinic, self.entries = request, clinic, entries
        self.mrn_system = codes.mrn_system(clinic)
        self.base = base_url(request)
        self.saved: dict[int, Saved] = {}
        self.issues: list[tuple[int, Issue]] = []  # with the entry's index, to sort them

    def run(self) -> None:
        # The lock order (patients.locks): the patients this Bundle writes to, by id,
        # before any row is written; saving entry by entry would lock them in its order.
        lock_patients(self._named_patients())
        # In dependency order: what a resource refers to is saved before it.
        steps = (
            ("Patient", self._patient),
            ("Procedure", self._procedure),
            ("ImagingStudy", self._study),
            ("DiagnosticReport", self._report),
        )
        for resource_type, step in steps:
            for entry in self.entries:
                if entry.type == resource_type:
                    self._attempt(entry, step)

    def _named_patients(self) -> set[int]:
        """The ids of the clinic's patients the entries are or refer to."""
        ids = set()
        for entry in self.entries:
            try:
                if entry.type == "Patient":
                    found = self._existing_patient(entry.resource)
                elif subject := (entry.resource.get("subject") or {}).get("reference"):
                    found = self._local(subject, "Patient", Patient)
                else:
                    found = None
            except Refusal:
                continue  # refused with its place when the entry itself is imported
            if found is not None:
                ids.add(found.pk)
        return ids

    def response(self) -> dict:
        return {
            "resourceType": "Bundle",
            "type": "transaction-response",
            "entry": [self._entry_response(entry) for entry in self.entries],
        }

    def _entry_response(self, entry: Entry) -> dict:
        saved = self.saved[entry.index]
        note = Issue("informational", f"{entry.label}: {saved.status}.", severity="information")
        return {
            "response": {
                "status": HTTP_STATUS[saved.status],
                "location": f"{entry.type}/{saved.row.pk}",
                "outcome": operation_outcome([note]),
            }
        }

    def _attempt(self, entry: Entry, step) -> None:
        """One entry in a savepoint: a refused entry leaves the others to be checked."""
        try:
            with transaction.atomic():
                self.saved[entry.index] = step(entry)
        except Refusal as refusal:
            self._refuse(entry, refusal.code, refusal.message, refusal.element)
        except serializers.ValidationError as error:
            elements = ELEMENTS[entry.type]
            for path, message in flatten_errors(error.detail):
                element = elements.get(path.split(".")[0], "")
                self._refuse(entry, "invalid", f"{path}: {message}", element)
        except IntegrityError:
            message = "conflicts with a record saved at the same time; send the Bundle again."
            self._refuse(entry, "conflict", message)

    def _refuse(self, entry: Entry, code: str, message: str, element: str = "") -> None:
        self.issues.append((entry.index, entry.issue(code, message, element)))

    def _save(self, serializer_class, data: dict, existing) -> Saved:
        serializer = serializer_class(
            existing, data=data, partial=existing is not None, context={"request": self.request}
        )
        serializer.is_valid(raise_exception=True)
        if existing is None:
            return Saved(serializer.save(), "created")
        if not _differs(existing, serializer.validated_data):
            return Saved(existing, "unchanged")
        return Saved(serializer.save(), "updated")

    # References

    def _referenced(
        self, entry: Entry, reference: str | None, resource_type: str, model, element: str
    ):
        """The row a reference names: an entry of this Bundle first, else a row of this
        clinic (`Type/123` is this server's id, `Patient?identifier=...` a search)."""
        if not reference:
            raise Refusal(f"must reference a {resource_type}.", element, "required")
        for target in self.entries:
            if target.type == resource_type and target.matches(reference):
                if target.index not in self.saved:
                    raise Refusal(
                        f"refers to {target.label}, which is refused.", element, "processing"
                    )
                return self.saved[target.index].row
        row = self._local(reference, resource_type, model)
        if row is None:
            raise Refusal(
                f"{reference} is neither in this Bundle nor a {resource_type} of this clinic.",
                element,
                "not-found",
            )
        return row

    def _local(self, reference: str, resource_type: str, model):
        reference = reference.removeprefix(self.base)
        rows = model.objects.filter(clinic=self.clinic)
        if match := re.fullmatch(rf"{resource_type}/(\d+)", reference):
            return rows.filter(pk=int(match[1])).first()
        if resource_type == "Patient" and reference.startswith("Patient?identifier="):
            found = list(search.with_identifier(rows, reference.partition("=")[2])[:2])
            if len(found) > 1:
                raise Refusal(
                    f"{reference} matches several patients.", "subject", "multiple-matches"
                )
            return found[0] if found else None
        return None

    def _subject(self, entry: Entry) -> Patient:
        subject = (entry.resource.get("subject") or {}).get("reference")
        return self._referenced(entry, subject, "Patient", Patient, "subject")

    # One step per resource type

    def _patient(self, entry: Entry) -> Saved:
        data = readers.patient(entry.resource, self.mrn_system)
        existing = self._existing_patient(entry.resource)
        if existing is None:
            if "mrn" not in data:
                raise Refusal(
                    f"a new patient needs an identifier of type {codes.MRN_TYPE} "
                    f"({codes.V2_IDENTIFIER_TYPE}): its MRN.",
                    "identifier",
                    "required",
                )
            return self._save(PatientSerializer, data, None)
        aliases = {(i.system, i.value) for i in existing.external_ids.all()}
        if (
            data.get("mrn", existing.mrn) != existing.mrn
            and (self.mrn_system, data["mrn"]) in aliases
        ):
            del data["mrn"]  # an earlier MRN of the patient's (a merge): the MRN stays
        self._check_same_patient(entry, data, existing)
        if "external_ids" in data:  # the patient's own MRN is no external identifier
            mrn = (self.mrn_system, existing.mrn)
            data["external_ids"] = [
                i for i in data["external_ids"] if (i["system"], i["value"]) != mrn
            ]
        if "external_ids" in data:  # added to the patient's, never taking one away
            known = [{"system": i.system, "value": i.value} for i in existing.external_ids.all()]
            data["external_ids"] = known + [i for i in data["external_ids"] if i not in known]
        return self._save(PatientSerializer, data, existing)

    def _check_same_patient(self, entry: Entry, data: dict, existing: Patient) -> None:
        if "mrn" in data and data["mrn"] != existing.mrn:
            raise Refusal(
                f"an identifier is the patient with MRN {existing.mrn}, but the MR identifier "
                f"says {data['mrn']}.",
                "identifier",
                "conflict",
            )
        # The same MRN from another record system is another person: never merge them.
        system = (readers.mr_identifier(entry.resource, self.mrn_system) or {}).get("system")
        known = {i.system for i in existing.external_ids.all() if i.value == existing.mrn}
        if system and system != self.mrn_system and known and system not in known:
            raise Refusal(
                f"MRN {existing.mrn} is a patient whose MRN comes from {', '.join(sorted(known))}, "
                f"not from {system}.",
                "identifier",
                "conflict",
            )

    def _existing_patient(self, resource: dict) -> Patient | None:
        patients = Patient.objects.filter(clinic=self.clinic)
        # The hospital's identifiers first: the MRN, or the patient's under that system.
        for value in readers.mrn_system_values(resource, self.mrn_system):
            under_system = Q(external_ids__system=self.mrn_system, external_ids__value=value)
            if found := patients.filter(Q(mrn=value) | under_system).first():
                return found
        data = readers.patient(resource, self.mrn_system)
        if "mrn" in data and (found := patients.filter(mrn=data["mrn"]).first()):
            return found
        for pair in data.get("external_ids", []):
            found = patients.filter(
                external_ids__system=pair["system"], external_ids__value=pair["value"]
            ).first()
            if found:
                return found
        return None

    def _procedure(self, entry: Entry) -> Saved:
        data = readers.procedure(entry.resource)
        patient = self._subject(entry)
        data["patient"] = patient.pk
        when = _time(data.get("performed_at"), patient)
        existing = (
            Surgery.objects.filter(
                patient=patient, procedure=data["procedure"], performed_at=when
            ).first()
            if when
            else None
        )
        return self._save(SurgerySerializer, data, existing)

    def _study(self, entry: Entry) -> Saved:
        data = readers.imaging_study(entry.resource)
        existing = self._existing_exam(data.get("accession_number"), data.get("study_instance_uid"))
        if existing is None and not {"accession_number", "study_instance_uid"} & set(data):
            raise Refusal(
                f"a new exam needs its accession number (an identifier of type "
                f"{codes.ACCESSION_TYPE}, {codes.V2_IDENTIFIER_TYPE}) or its Study Instance "
                f"UID (system {codes.DICOM_UID}, value urn:oid:<uid>).",
                "identifier",
                "required",
            )
        data["patient"] = self._subject(entry).pk
        if surgery := readers.surgery_reference_of(entry.resource):
            data["surgery"] = self._referenced(entry, surgery, "Procedure", Surgery, "extension").pk
        return self._save(StudySerializer, data, existing)

    def _existing_exam(self, accession: str | None, uid: str | None) -> ImagingExam | None:
        exams = ImagingExam.objects.filter(clinic=self.clinic)
        if accession and (found := exams.filter(accession_number=accession).first()):
            return found
        return exams.filter(study_instance_uid=uid).first() if uid else None

    def _report(self, entry: Entry) -> Saved:
        data = readers.diagnostic_report(entry.resource)
        exam = self._reported_exam(entry)
        patient = self._subject(entry)
        if patient.pk != exam.patient_id:
            raise Refusal(
                "is not about the patient of its ImagingStudy.", "subject", "business-rule"
            )
        data["patient"] = patient.pk
        return self._save(ExamSerializer, data, exam)

    def _reported_exam(self, entry: Entry) -> ImagingExam:
        for study in entry.resource.get("imagingStudy") or []:
            if reference := study.get("reference"):
                return self._referenced(
                    entry, reference, "ImagingStudy", ImagingExam, "imagingStudy"
                )
        accession = readers.accession_of(entry.resource)
        exams = ImagingExam.objects.filter(clinic=self.clinic)
        if accession and (exam := exams.filter(accession_number=accession).first()):
            return exam
        raise Refusal(
            "names no ImagingStudy of this Bundle or of this clinic: a report is imported "
            "with its exam (imagingStudy, or an identifier of type ACSN with a known "
            "accession number).",
            "imagingStudy",
            "not-found",
        )


def _time(value: str | None, patient: Patient):
    """The instant the serializer will store, to match an existing surgery by it."""
    if not value:
        return None
    try:
        return in_clinic_zone(ClinicDateTimeField().to_internal_value(value), patient)
    except serializers.ValidationError:
        return None  # the serializer will say what is wrong with it


def _differs(row, validated: dict) -> bool:
    for name, value in validated.items():
        if name == "clinic":
            continue
        if name == "external_ids":
            current = {(i.system, i.value) for i in row.external_ids.all()}
            if current != {(i["system"], i["value"]) for i in value}:
                return True
        elif getattr(row, name) != value:
            return True
    return False
