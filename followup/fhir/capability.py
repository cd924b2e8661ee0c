"""The CapabilityStatement at /fhir/r4/metadata: what this server does, and no more."""

from patients.base.smart.views import token_endpoint_url

from . import measures, subscriptions

SMART_OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"

# The date this statement last changed (a CapabilityStatement's `date`).
STATEMENT_DATE = "2026-12-02"


def _param(name: str, type_: str, documentation: str) -> dict:
    return {"name": name, "type": type_, "documentation": documentation}


_PATIENT_PARAM = _param("patient", "reference", "The patient's id (`123` or `Patient/123`).")
_DATES = (
    "`eq` (the default), `gt`, `lt`, `ge`, `le` and a FHIR date or dateTime at any precision "
    "(`2026`, `2026-03`, `2026-03-01`, `2026-03-01T09:30:00+01:00`); a date alone is a day of "
    "the clinic's time zone; repeated: both."
)

# On every type.
COMMON_PARAMS = [
    _param(
        "_count",
        "number",
        "Page size (default 50, at most 500); the next page is the `next` link (a keyset "
        "cursor: each row once, whatever changes meanwhile).",
    ),
    _param(
        "_lastUpdated",
        "date",
        f"`meta.lastUpdated`, for incremental sync: {_DATES}",
    ),
    _param("_summary", "token", "Only `count`: the number of matches (`total`), no entries."),
]

# type -> (search parameters, documentation)
SERVED: dict[str, tuple[list[dict], str]] = {
    "Patient": (
        [
            _param(
                "identifier",
                "token",
                "`system|value` or `value` alone; the MRN under the clinic's MRN system "
                "(its `mrn_system`, else this service's).",
            )
        ],
        "The MRN is the identifier of type MR, under the clinic's MRN system. Imported "
        "through a transaction Bundle, matched by any identifier of the clinic's MRN system, "
        "the MR identifier or another identifier.",
    ),
    "Procedure": (
        [_PATIENT_PARAM],
        "A spine surgery. Imported through a transaction Bundle, "
        "matched by patient, procedure code and time.",
    ),
    "ImagingStudy": (
        [_PATIENT_PARAM, _param("started", "date", f"When the study was made: {_DATES}")],
        "An imaging exam. Imported through a transaction Bundle, matched by accession number "
        "(ACSN) or DICOM Study Instance UID (`urn:dicom:uid`), either being enough.",
    ),
    "DiagnosticReport": (
        [_PATIENT_PARAM, _param("date", "date", f"When the study was made: {_DATES}")],
        "An exam's report (same id as its ImagingStudy). `_include=DiagnosticReport:result` "
        "adds its findings. Imported through a transaction Bundle, matched by accession number.",
    ),
    "Observation": (
        [
            {**_PATIENT_PARAM, "documentation": "Required: the patient's id."},
            _param("category", "token", "`imaging` (findings) or `survey` (scores)."),
            _param(
                "code",
                "token",
                "`system|code` or `code`: a finding code, a LOINC score code (`72514-3`, "
                "`97909-6`) or a score code (`nrs_back`, `nrs_leg`, `odi`).",
            ),
            _param("date", "date", f"`effectiveDateTime`: {_DATES}"),
        ],
        "Structured imaging findings (`finding-<id>`) and "
        "patient-reported scores (`assessment-<id>-<score>`). Search needs `patient`.",
    ),
    "CarePlan": (
        [_PATIENT_PARAM],
        "A surgery's imaging checkpoints and milestones (same id as the Procedure).",
    ),
    "Flag": (
        [
            _PATIENT_PARAM,
            _param("status", "token", "`active` (open alerts; the default) or `inactive`."),
        ],
        "Alerts; a search returns the open ones unless `status` says otherwise.",
    ),
}
INCLUDES = {"DiagnosticReport": ["DiagnosticReport:result"]}


def _resource(resource_type: str) -> dict:
    params, documentation = SERVED[resource_type]
    resource = {
        "type": resource_type,
        "documentation": documentation,
        "interaction": [{"code": "read"}, {"code": "search-type"}],
    }
    if resource_type in INCLUDES:
        resource["searchInclude"] = INCLUDES[resource_type]
    resource["searchParam"] = [*params, *COMMON_PARAMS]
    return resource


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
                    "extension": [
                        {
                            "url": SMART_OAUTH_URIS,
                            "extension": [{"url": "token", "valueUri": token_endpoint_url()}],
                        }
                    ],
                    "cors": False,
                    "service": [
                        {
                            "coding": [
                                {
                                    "system": "http://terminology.hl7.org/CodeSystem/"
                                    "restful-security-service",
                                    "code": "SMART-on-FHIR",
                                }
                            ]
                        }
                    ],
                    "description": "SMART Backend Services (client credentials with a "
                    "private_key_jwt assertion; /.well-known/smart-configuration), or the "
                    "bearer tokens of integration clients; staff use the session of the admin.",
                },
                "resource": [
                    *(_resource(name) for name in SERVED),
                    *subscriptions.capability_resources(),
                    measures.capability_resource(),
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
