"""Patients, surgeries and exams as FHIR resources (ids are the /api/v1/ ids).

An exam is both an ImagingStudy (what was acquired) and a DiagnosticReport (what was
read), under the same id. Each function reads only the row and what the view
prefetched: a search costs the same number of queries for 1 row as for 50.
"""

from imaging.models import ImagingExam
from patients.models import Patient, Surgery

from . import codes
from .datatypes import coding, compact, concept, extension, instant, meta, reference


def patient(row: Patient) -> dict:
    """Needs `clinic` selected and `external_ids` prefetched."""
    system = codes.mrn_system(row.clinic)
    identifiers = [codes.mrn_identifier(row.mrn, system)]
    identifiers += [
        {"system": i.system, "value": i.value}
        for i in row.external_ids.all()
        if (i.system, i.value) != (system, row.mrn)  # the MRN itself, already sent
    ]
    name = compact({"use": "official", "family": row.family_name, "given": row.given_name.split()})
    return compact(
        {
            "resourceType": "Patient",
            "id": str(row.pk),
            "meta": meta(row.updated_at),
            "extension": _patient_extensions(row),
            "identifier": identifiers,
            "name": [name],
            "gender": row.sex,
            "birthDate": row.birth_date.isoformat() if row.birth_date else None,
        }
    )


def _patient_extensions(row: Patient) -> list[dict]:
    # Shown on top of everything about the patient: level errors come from it. The
    # count is always sent: a reader must not guess that L6 cannot be a level.
    found = [extension(codes.EXT_LUMBAR_VERTEBRAE, valueInteger=row.lumbar_vertebrae)]
    if row.transitional_variant:
        found.append(
            extension(codes.EXT_TRANSITIONAL_VARIANT, valueString=row.transitional_variant)
        )
    if row.vertebral_numbering:
        found.append(extension(codes.EXT_VERTEBRAL_NUMBERING, valueString=row.vertebral_numbering))
    return found


def procedure_code(code: str, display: str) -> dict:
    codings = [coding(codes.PROCEDURE, code, display)]
    if code in codes.PROCEDURE_SNOMED:
        codings.append(coding(codes.SNOMED, *codes.PROCEDURE_SNOMED[code]))
    return {"coding": codings, "text": display}


def procedure(row: Surgery) -> dict:
    return compact(
        {
            "resourceType": "Procedure",
            "id": str(row.pk),
            "meta": meta(row.updated_at),
            "extension": [extension(codes.EXT_APPROACH, valueCode=row.approach)]
            if row.approach
            else [],
            "status": "completed",
            "code": procedure_code(row.procedure, row.get_procedure_display()),
            "subject": reference("Patient", row.patient_id),
            "performedDateTime": instant(row.performed_at),
            "performer": [{"actor": {"display": row.surgeon}}] if row.surgeon else [],
            "bodySite": [concept(codes.SPINAL_LEVEL, level, text=level) for level in row.levels],
            "usedCode": [concept(codes.HARDWARE, item) for item in row.hardware],
            "note": [{"text": row.notes}] if row.notes else [],
        }
    )


def modality_coding(modality: str) -> dict:
    return coding(codes.DICOM_MODALITY, *codes.MODALITY_TO_DICOM[modality])


def _exam_identifiers(row: ImagingExam) -> list[dict]:
    # One of the two at least (the exam_identified constraint).
    identifiers = [codes.accession_identifier(row.accession_number)] if row.accession_number else []
    if row.study_instance_uid:
        identifiers.append(codes.study_uid_identifier(row.study_instance_uid))
    return identifiers


def _exam_extensions(row: ImagingExam) -> list[dict]:
    found = [extension(codes.EXT_CONTRAST, valueCode=row.contrast)]
    found += [extension(codes.EXT_VIEW, valueCode=view) for view in row.views]
    if row.effective_dose_msv is not None:
        dose = {
            "value": float(row.effective_dose_msv),
            "unit": "mSv",
            "system": codes.UCUM,
            "code": "mSv",
        }
        found.append(extension(codes.EXT_EFFECTIVE_DOSE, valueQuantity=dose))
    if row.surgery_id:
        found.append(
            extension(codes.EXT_SURGERY, valueReference=reference("Procedure", row.surgery_id))
        )
    return found


def imaging_study(row: ImagingExam) -> dict:
    return compact(
        {
            "resourceType": "ImagingStudy",
            "id": str(row.pk),
            "meta": meta(row.updated_at),
            "extension": _exam_extensions(row),
            "identifier": _exam_identifiers(row),
            "status": "available",
            "modality": [modality_coding(row.modality)],
            "subject": reference("Patient", row.patient_id),
            "started": instant(row.performed_at),
            "description": row.get_modality_display(),
        }
    )


def diagnostic_report(row: ImagingExam) -> dict:
    """Needs `findings` prefetched: each finding is a result (an Observation)."""
    findings = list(row.findings.all())
    return compact(
        {
            "resourceType": "DiagnosticReport",
            "id": str(row.pk),
            "meta": meta(row.updated_at),
            # The order's number; a study UID names the ImagingStudy, not its report.
            "identifier": [codes.accession_identifier(row.accession_number)]
            if row.accession_number
            else [],
            # Nothing read yet: only registered.
            "status": "final" if row.report or findings else "registered",
            "category": [concept(codes.V2_DIAGNOSTIC_SERVICE, "RAD", "Radiology")],
            "code": concept(codes.LOINC, *codes.IMAGING_REPORT_LOINC),
            "subject": reference("Patient", row.patient_id),
            "effectiveDateTime": instant(row.performed_at),
            "imagingStudy": [reference("ImagingStudy", row.pk)],
            "result": [reference("Observation", f"finding-{f.pk}") for f in findings],
            "conclusion": row.report,
        }
    )
