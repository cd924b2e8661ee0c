"""Code systems, identifier systems and extensions: one table, read both ways.

A standard code is used where one exists and was checked (LOINC, DICOM, HL7 v2 and
FHIR's own systems); everything else is in the project's own systems under BASE (the
FHIR_CANONICAL_BASE setting), documented in docs/fhir.md. A patient's MRN goes out
under the system its clinic configured (`Clinic.mrn_system`), else under ours.
"""

from django.conf import settings

from imaging.models import Modality
from imaging.vocabulary import VOCABULARY, FindingCode, ValueType
from patients.models import Clinic

BASE = settings.FHIR_CANONICAL_BASE.rstrip("/")


def code_system(name: str) -> str:
    return f"{BASE}/CodeSystem/{name}"


def extension_url(name: str) -> str:
    return f"{BASE}/StructureDefinition/{name}"


# Standard systems.
V2_IDENTIFIER_TYPE = "http://terminology.hl7.org/CodeSystem/v2-0203"
V2_DIAGNOSTIC_SERVICE = "http://terminology.hl7.org/CodeSystem/v2-0074"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
FLAG_CATEGORY = "http://terminology.hl7.org/CodeSystem/flag-category"
DICOM_MODALITY = "http://dicom.nema.org/resources/ontology/DCM"
DICOM_UID = "urn:dicom:uid"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"

# Identifier systems: an MRN or an accession number is unique within a clinic, and a
# caller sees one clinic, so system|value names one record for that caller. MRN_SYSTEM
# is the MRNs' system of a clinic that did not configure the hospital's own.
MRN_SYSTEM = f"{BASE}/sid/mrn"
ACCESSION_SYSTEM = f"{BASE}/sid/accession"
MRN_TYPE = "MR"
ACCESSION_TYPE = "ACSN"

# The project's own code systems.
PROCEDURE = code_system("procedure")
SPINAL_LEVEL = code_system("spinal-level")
HARDWARE = code_system("hardware")
FINDING = code_system("finding-code")
FINDING_VALUE = code_system("finding-value")
SIDE = code_system("side")
ASSESSMENT = code_system("assessment")
CHECKPOINT = code_system("checkpoint")
CHECKPOINT_STATUS = code_system("checkpoint-status")
ALERT = code_system("alert-code")

# The project's own extensions: what the standard resources have no element for.
EXT_TRANSITIONAL_VARIANT = extension_url("transitional-variant")
EXT_VERTEBRAL_NUMBERING = extension_url("vertebral-numbering")
EXT_LUMBAR_VERTEBRAE = extension_url("lumbar-vertebrae")  # valueInteger 5 or 6
EXT_APPROACH = extension_url("approach")
EXT_SURGERY = extension_url("surgery")
EXT_CONTRAST = extension_url("contrast")
EXT_VIEW = extension_url("view")
EXT_EFFECTIVE_DOSE = extension_url("effective-dose")
EXT_LATERALITY = extension_url("laterality")
EXT_ALERT_SEVERITY = extension_url("alert-severity")
EXT_ALERT_STATUS = extension_url("alert-status")

# Our modalities in DICOM's acquisition modality codes (CID 29). A plain radiograph
# has no code of its own there: DX (digital radiography) goes out, DX and CR come in.
MODALITY_TO_DICOM: dict[str, tuple[str, str]] = {
    Modality.XR: ("DX", "Digital Radiography"),
    Modality.CT: ("CT", "Computed Tomography"),
    Modality.MR: ("MR", "Magnetic Resonance"),
    Modality.NM: ("NM", "Nuclear Medicine"),
    Modality.PT: ("PT", "Positron emission tomography"),
    Modality.RF: ("RF", "Radio Fluoroscopy"),
    Modality.US: ("US", "Ultrasound"),
}
DICOM_TO_MODALITY: dict[str, str] = {
    **{dicom: ours for ours, (dicom, _) in MODALITY_TO_DICOM.items()},
    "CR": Modality.XR,
}

# Patient-reported scores (CLINICAL_RULES §6): LOINC has both instruments. Back and
# leg pain share the NRS code; our own code and the body site tell them apart.
SCORE_LOINC: dict[str, tuple[str, str]] = {
    "nrs_back": ("72514-3", "Pain severity - 0-10 verbal numeric rating [Score] - Reported"),
    "nrs_leg": ("72514-3", "Pain severity - 0-10 verbal numeric rating [Score] - Reported"),
    "odi": ("97909-6", "Oswestry disability index score ODI"),
}
SCORE_LABEL = {"nrs_back": "NRS back pain", "nrs_leg": "NRS leg pain", "odi": "ODI"}
SCORE_BODY_SITE = {"nrs_back": "Back", "nrs_leg": "Leg"}

IMAGING_REPORT_LOINC = ("18748-4", "Diagnostic imaging study")

# Verified SNOMED CT concept ids for our procedure codes, sent beside our own code
# and accepted on import. Empty until a terminologist supplies checked ids: a wrong
# concept id in a surgical record is worse than none (docs/fhir.md).
SNOMED = "http://snomed.info/sct"
PROCEDURE_SNOMED: dict[str, tuple[str, str]] = {}

# UCUM units of the numeric findings.
FINDING_UNITS: dict[str, str] = {
    FindingCode.SCREW_LUCENCY_MM: "mm",
    FindingCode.SPACER_POSTERIOR_DISTANCE_MM: "mm",
    FindingCode.PELVIC_INCIDENCE_DEG: "deg",
    FindingCode.LUMBAR_LORDOSIS_DEG: "deg",
}
assert set(FINDING_UNITS) == {
    code for code, definition in VOCABULARY.items() if definition.type is ValueType.NUMBER
}, "every numeric finding needs a unit"


def identifier_type(identifier: dict) -> set[str]:
    """The HL7 v2 identifier type codes (MR, ACSN...) an identifier carries."""
    codings = (identifier.get("type") or {}).get("coding") or []
    return {c.get("code") for c in codings if c.get("system") == V2_IDENTIFIER_TYPE}


def typed_identifier(type_code: str, display: str, system: str, value: str) -> dict:
    return {
        "use": "usual",
        "type": {"coding": [{"system": V2_IDENTIFIER_TYPE, "code": type_code, "display": display}]},
        "system": system,
        "value": value,
    }


def mrn_system(clinic: Clinic) -> str:
    """The system of the clinic's MRNs: the hospital's, else this service's."""
    return clinic.mrn_system or MRN_SYSTEM


def mrn_identifier(mrn: str, system: str = MRN_SYSTEM) -> dict:
    return typed_identifier(MRN_TYPE, "Medical record number", system, mrn)


def accession_identifier(accession: str) -> dict:
    return typed_identifier(ACCESSION_TYPE, "Accession ID", ACCESSION_SYSTEM, accession)


def study_uid_identifier(uid: str) -> dict:
    return {"system": DICOM_UID, "value": f"urn:oid:{uid}"}
