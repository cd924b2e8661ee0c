"""The CapabilityStatement at /fhir/r4/metadata: what this server does, and no more."""

from . import codes, subscriptions

# The date this statement last changed (a CapabilityStatement's `date`).
STATEMENT_DATE = "2026-11-01"

_PATIENT_PARAM = {
    "name": "patient",
    "type": "reference",
    "documentation": "The patient's id (`123` or `Patient/123`).",
}

_COUNT_PARAM = {
    "name": "_count",
    "type": "number",
    "documentation": "Page size (default 50, at most 500); the next page is the `next` link.",
}

# type -> (search parameters, documentation)
SERVED: dict[str, tuple[list[dict], str]] = {
    "Patient": (
        [
            {
                "name": "identifier",
                "type": "token",
                "documentation": "`system|value`, `value` alone, or the MRN as "
                f"`{codes.MRN_SYSTEM}|MRN`.",
            }
        ],
        "The MRN is the identifier of type MR. Imported through a transaction Bundle, "
        "matched by the MR identifier or another identifier.",
    ),
    "Procedure": (
        [_PATIENT_PARAM],
        "A spine surgery. Imported through a transaction Bundle, "
        "matched by patient, procedure code and time.",
    ),
    "ImagingStudy": (
        [_PATIENT_PARAM],
        "An imaging exam. Imported through a transaction Bundle, "
        "matched by accession number (ACSN) or DICOM Study UID.",
    ),
    "DiagnosticReport": (
        [_PATIENT_PARAM],
        "An exam's report (same id as its ImagingStudy). "
        "Imported through a transaction Bundle, matched by accession number.",
    ),
    "Observation": (
        [_PATIENT_PARAM],
        "Structured imaging findings (`finding-<id>`) and "
        "patient-reported scores (`assessment-<id>-<score>`). Search needs `patient`.",
    ),
    "CarePlan": (
        [_PATIENT_PARAM],
        "A surgery's imaging checkpoints and milestones (same id as the Procedure).",
    ),
    "Flag": ([_PATIENT_PARAM], "Alerts; a search returns the open ones."),
}


def _resource(resource_type: str) -> dict:
    params, documentation = SERVED[resource_type]
    return {
        "type": resource_type,
        "documentation": documentation,
        "interaction": [{"code": "read"}, {"code": "search-type"}],
        "searchParam": params if resource_type == "Observation" else [*params, _COUNT_PARAM],
    }


def capability_statement(base_url: str) -> dict:
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": STATEMENT_DATE,
        "publisher": "Spine surgery follow-up",
        "kind": "instance",
        "software": {"name": "spine-followup"},
        "implementation": {"description": "Spine surgery imaging follow-up", "url": base_url},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "rest": [
            {
                "mode": "server",
                "documentation": "Every request carries `Authorization: Bearer <token>`; "
                "a client sees only its own clinic.",
                "security": {
                    "cors": False,
                    "description": "Bearer tokens of integration clients; staff use the "
                    "session of the admin.",
                },
                "resource": [
                    *(_resource(name) for name in SERVED),
                    *subscriptions.capability_resources(),
                ],
                "interaction": [
                    {
                        "code": "transaction",
                        "documentation": "POST a transaction Bundle of Patient, Procedure, "
                        "ImagingStudy and DiagnosticReport: all or nothing, matched by "
                        "identifier so that sending it twice changes nothing.",
                    }
                ],
            }
        ],
    }
