"""Findings and patient-reported scores as Observations.

Two tables share the Observation type, so the id says which row it is:
`finding-<finding id>`, and `assessment-<assessment id>-<score>` for each score of
an assessment (`nrs-back`, `nrs-leg`, `odi`): one Observation per measured value.
"""

import re

from imaging.models import Finding
from imaging.vocabulary import VOCABULARY, ValueType
from patients.models import Assessment

from . import codes
from .datatypes import coding, compact, concept, extension, instant, meta, reference

SCORES = ("nrs_back", "nrs_leg", "odi")
_ID = re.compile(
    r"^(?:finding-(?P<finding>\d+)|assessment-(?P<assessment>\d+)-(?P<score>[a-z-]+))$"
)


def parse_id(resource_id: str) -> tuple[str, int, str | None] | None:
    """('finding', 12, None) or ('assessment', 7, 'nrs_back'); None for anything else."""
    match = _ID.match(resource_id)
    if match is None:
        return None
    if match["finding"]:
        return "finding", int(match["finding"]), None
    score = match["score"].replace("-", "_")
    return ("assessment", int(match["assessment"]), score) if score in SCORES else None


def _category(code: str, display: str) -> list[dict]:
    return [concept(codes.OBSERVATION_CATEGORY, code, display)]


def _finding_value(row: Finding) -> dict:
    match VOCABULARY[row.code].type:
        case ValueType.NUMBER:
            unit = codes.FINDING_UNITS[row.code]
            return {
                "valueQuantity": {
                    "value": row.value,
                    "unit": unit,
                    "system": codes.UCUM,
                    "code": unit,
                }
            }
        case ValueType.BOOLEAN:
            return {"valueBoolean": row.value}
        case _:
            return {"valueCodeableConcept": concept(codes.FINDING_VALUE, row.value)}


def finding(row: Finding) -> dict:
    """Needs `exam` selected: the patient and the time are the exam's."""
    exam = row.exam
    laterality = (
        [extension(codes.EXT_LATERALITY, valueCoding=coding(codes.SIDE, row.side))]
        if row.side
        else []
    )
    return compact(
        {
            "resourceType": "Observation",
            "id": f"finding-{row.pk}",
            # A finding is written only with its exam.
            "meta": meta(exam.updated_at),
            "extension": laterality,
            "status": "final",
            "category": _category("imaging", "Imaging"),
            "code": concept(codes.FINDING, row.code, row.get_code_display()),
            "subject": reference("Patient", exam.patient_id),
            "effectiveDateTime": instant(exam.performed_at),
            **_finding_value(row),
            "bodySite": concept(codes.SPINAL_LEVEL, row.level, text=row.level)
            if row.level
            else None,
            "derivedFrom": [reference("ImagingStudy", exam.pk)],
        }
    )


def score(row: Assessment, name: str) -> dict:
    loinc_code, loinc_display = codes.SCORE_LOINC[name]
    body_site = codes.SCORE_BODY_SITE.get(name)
    return compact(
        {
            "resourceType": "Observation",
            "id": f"assessment-{row.pk}-{name.replace('_', '-')}",
            "meta": meta(row.updated_at),
            "status": "final",
            "category": _category("survey", "Survey"),
            "code": {
                "coding": [
                    coding(codes.LOINC, loinc_code, loinc_display),
                    coding(codes.ASSESSMENT, name, codes.SCORE_LABEL[name]),
                ],
                "text": codes.SCORE_LABEL[name],
            },
            "subject": reference("Patient", row.patient_id),
            "effectiveDateTime": instant(row.assessed_at),
            "valueInteger": getattr(row, name),
            "bodySite": {"text": body_site} if body_site else None,
        }
    )


def scores(row: Assessment) -> list[dict]:
    return [score(row, name) for name in SCORES if getattr(row, name) is not None]
