"""FHIR resources (JSON dicts) read into the data the REST serializers take.

Pure functions: no database. What a resource says is read; what it leaves out is
left out, so an update never clears a value the sender does not know about (our
own extensions, for a record an EHR sends). Elements this service has no place for
are ignored. A resource that cannot be read raises `Refusal`.
"""

from patients.models import Procedure, Sex

from . import codes
from .datatypes import codes_in, extensions_of


class Refusal(Exception):
    """What is wrong with one entry; `element` is the FHIRPath below the resource."""

    def __init__(self, message: str, element: str = "", code: str = "invalid"):
        super().__init__(message)
        self.message, self.element, self.code = message, element, code


# Where each serializer field comes from, to name the element in an error.
PATIENT_ELEMENTS = {
    "mrn": "identifier",
    "external_ids": "identifier",
    "family_name": "name.family",
    "given_name": "name.given",
    "birth_date": "birthDate",
    "sex": "gender",
    "clinic": "",
    "transitional_variant": "extension",
    "vertebral_numbering": "extension",
    "lumbar_vertebrae": "extension",
}
PROCEDURE_ELEMENTS = {
    "patient": "subject",
    "procedure": "code",
    "performed_at": "performed[x]",
    "levels": "bodySite",
    "hardware": "usedCode",
    "approach": "extension",
    "surgeon": "performer",
    "notes": "note",
}
STUDY_ELEMENTS = {
    "patient": "subject",
    "surgery": "extension",
    "modality": "modality",
    "performed_at": "started",
    "accession_number": "identifier",
    "study_instance_uid": "identifier",
    "contrast": "extension",
    "views": "extension",
    "effective_dose_msv": "extension",
}
REPORT_ELEMENTS = {
    "patient": "subject",
    "report": "conclusion",
    "performed_at": "effective[x]",
    "accession_number": "identifier",
}

_NOT_CURRENT = {"entered-in-error", "cancelled"}


def _strings(resource: dict, url: str, kind: str) -> list:
    return [e[kind] for e in extensions_of(resource, url) if kind in e]


def _first(resource: dict, url: str, kind: str):
    found = _strings(resource, url, kind)
    return found[0] if found else None


# Patient


def _chosen_name(names: list[dict]) -> dict | None:
    for use in ("official", "usual"):
        for name in names:
            if name.get("use") == use:
                return name
    current = [n for n in names if n.get("use") not in {"old", "maiden", "nickname", "anonymous"}]
    return (current or names or [None])[0]


def mr_identifier(resource: dict, mrn_system: str | None = None) -> dict | None:
    """The MRN: the identifier of type MR, else one of the clinic's MRN system."""
    identifiers = resource.get("identifier") or []
    found = [
        i for i in identifiers if codes.MRN_TYPE in codes.identifier_type(i) and i.get("value")
    ]
    if not found and mrn_system:
        found = [i for i in identifiers if i.get("system") == mrn_system and i.get("value")]
    if len({i["value"] for i in found}) > 1:
        raise Refusal("has several identifiers of type MR: a patient has one MRN.", "identifier")
    return found[0] if found else None


def mrn_system_values(resource: dict, mrn_system: str) -> list[str]:
    """The values of every identifier of the clinic's MRN system, typed MR or not."""
    return [
        i["value"]
        for i in resource.get("identifier") or []
        if i.get("system") == mrn_system and i.get("value")
    ]


def external_ids_of(resource: dict, mrn_system: str, mrn: str | None) -> list[dict]:
    """Every identifier with a system and a value, except the MRN under the clinic's own
    MRN system (it is the MRN).

    An MR identifier of another system is kept as well, so that the patient is found
    again by that system|value.
    """
    found = []
    for identifier in resource.get("identifier") or []:
        system, value = identifier.get("system"), identifier.get("value")
        pair = {"system": system, "value": value}
        if system and value and (system, value) != (mrn_system, mrn) and pair not in found:
            found.append(pair)
    return found


def patient(resource: dict, mrn_system: str = codes.MRN_SYSTEM) -> dict:
    data = {}
    if mrn := mr_identifier(resource, mrn_system):
        data["mrn"] = mrn["value"]
    if external := external_ids_of(resource, mrn_system, data.get("mrn")):
        data["external_ids"] = external
    if name := _chosen_name(resource.get("name") or []):
        if name.get("family"):
            data["family_name"] = name["family"]
        data["given_name"] = " ".join(name.get("given") or [])
    if "gender" in resource:
        if resource["gender"] not in Sex.values:
            raise Refusal(f"gender '{resource['gender']}' is not a FHIR gender.", "gender")
        data["sex"] = resource["gender"]
    if "birthDate" in resource:
        data["birth_date"] = resource["birthDate"]
    for field, url in (
        ("transitional_variant", codes.EXT_TRANSITIONAL_VARIANT),
        ("vertebral_numbering", codes.EXT_VERTEBRAL_NUMBERING),
    ):
        if (value := _first(resource, url, "valueString")) is not None:
            data[field] = value
    if (count := _lumbar_vertebrae(resource)) is not None:
        data["lumbar_vertebrae"] = count
    return data


def _lumbar_vertebrae(resource: dict) -> int | None:
    found = extensions_of(resource, codes.EXT_LUMBAR_VERTEBRAE)
    if not found:
        return None
    values = [e.get("valueInteger") for e in found]
    value = values[0] if all(v == values[0] for v in values) else None
    # A JSON true is not a count, though Python reads it as 1.
    if isinstance(value, bool) or value not in (5, 6):
        raise Refusal(
            f"the extension {codes.EXT_LUMBAR_VERTEBRAE} takes one valueInteger, 5 or 6 "
            "(6 for a lumbarisation).",
            "extension",
        )
    return value


# Procedure


def _described(concept: dict | None) -> str:
    codings = (concept or {}).get("coding") or []
    named = [
        f"{c.get('system', '?')}|{c.get('code', '?')}"
        + (f" ({c['display']})" if c.get("display") else "")
        for c in codings
    ]
    return ", ".join(named) or (concept or {}).get("text") or "without code"


def procedure_code(resource: dict) -> str:
    concept = resource.get("code")
    for code in codes_in(concept, codes.PROCEDURE):
        if code in Procedure.values:
            return code
    from_snomed = {snomed: ours for ours, (snomed, _) in codes.PROCEDURE_SNOMED.items()}
    for code in codes_in(concept, codes.SNOMED):
        if code in from_snomed:
            return from_snomed[code]
    given = f"the procedure {_described(concept)}" if concept else "a procedure without code"
    raise Refusal(
        f"{given} is not one this service follows up: use "
        f"{codes.PROCEDURE} with one of {', '.join(Procedure.values)}.",
        "code",
        "code-invalid",
    )


def procedure(resource: dict) -> dict:
    if resource.get("status") != "completed":
        raise Refusal(
            f"status is '{resource.get('status')}': only completed surgeries are followed up.",
            "status",
            "business-rule",
        )
    data = {"procedure": procedure_code(resource)}
    performed = resource.get("performedDateTime") or (resource.get("performedPeriod") or {}).get(
        "start"
    )
    if performed:
        data["performed_at"] = performed
    if levels := codes_in(resource.get("bodySite"), codes.SPINAL_LEVEL):
        data["levels"] = levels
    if hardware := codes_in(resource.get("usedCode"), codes.HARDWARE):
        data["hardware"] = hardware
    if (approach := _first(resource, codes.EXT_APPROACH, "valueCode")) is not None:
        data["approach"] = approach
    surgeons = [
        p["actor"]["display"]
        for p in resource.get("performer") or []
        if (p.get("actor") or {}).get("display")
    ]
    if surgeons:
        data["surgeon"] = surgeons[0]
    if notes := [n["text"] for n in resource.get("note") or [] if n.get("text")]:
        data["notes"] = "\n\n".join(notes)
    return data


# ImagingStudy and DiagnosticReport


def accession_of(resource: dict) -> str | None:
    for identifier in resource.get("identifier") or []:
        if codes.ACCESSION_TYPE in codes.identifier_type(identifier) and identifier.get("value"):
            return identifier["value"]
    return None


def study_uid_of(resource: dict) -> str | None:
    for identifier in resource.get("identifier") or []:
        if identifier.get("system") == codes.DICOM_UID and identifier.get("value"):
            return identifier["value"].removeprefix("urn:oid:")
    return None


# Series that hold no images of their own (reports, key images, presentation states).
_NOT_ACQUISITIONS = {"SR", "KO", "PR", "DOC"}


def modality_of(resource: dict) -> str | None:
    # Codings, not CodeableConcepts, in R4's ImagingStudy.
    codings = [*(resource.get("modality") or [])]
    codings += [s["modality"] for s in resource.get("series") or [] if s.get("modality")]
    dicom = [
        c["code"] for c in codings if c.get("system") == codes.DICOM_MODALITY and c.get("code")
    ]
    dicom = [code for code in dict.fromkeys(dicom) if code not in _NOT_ACQUISITIONS]
    if unknown := [code for code in dicom if code not in codes.DICOM_TO_MODALITY]:
        raise Refusal(
            f"modality {', '.join(unknown)} is not one this service follows up: "
            f"{', '.join(codes.DICOM_TO_MODALITY)} ({codes.DICOM_MODALITY}).",
            "modality",
            "code-invalid",
        )
    ours = set(map(codes.DICOM_TO_MODALITY.get, dicom))
    if ours == {"PT", "CT"}:
        return "PT"  # a PET-CT
    if len(ours) > 1:
        raise Refusal(
            f"has several modalities ({', '.join(dicom)}): one exam, one modality.", "modality"
        )
    return ours.pop() if ours else None


def _current(resource: dict) -> None:
    if resource.get("status") in _NOT_CURRENT:
        raise Refusal(
            f"status is '{resource['status']}': nothing to import.", "status", "business-rule"
        )


def imaging_study(resource: dict) -> dict:
    _current(resource)
    data = {}
    if accession := accession_of(resource):
        data["accession_number"] = accession
    if uid := study_uid_of(resource):
        data["study_instance_uid"] = uid
    if modality := modality_of(resource):
        data["modality"] = modality
    if resource.get("started"):
        data["performed_at"] = resource["started"]
    if (contrast := _first(resource, codes.EXT_CONTRAST, "valueCode")) is not None:
        data["contrast"] = contrast
    if views := _strings(resource, codes.EXT_VIEW, "valueCode"):
        data["views"] = views
    if dose := _first(resource, codes.EXT_EFFECTIVE_DOSE, "valueQuantity"):
        if dose.get("code", "mSv") != "mSv":
            raise Refusal("the effective dose must be in mSv.", "extension")
        data["effective_dose_msv"] = dose.get("value")
    return data


def surgery_reference_of(resource: dict) -> str | None:
    found = _first(resource, codes.EXT_SURGERY, "valueReference")
    return (found or {}).get("reference")


def diagnostic_report(resource: dict) -> dict:
    _current(resource)
    return {"report": resource["conclusion"]} if "conclusion" in resource else {}
