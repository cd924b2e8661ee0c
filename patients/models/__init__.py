"""The patients app's models, one module per concept: tenancy (clinics, staff, API
clients), records (patients, surgeries, events, assessments), reads (the read audit),
idempotency (replayable POSTs).
Every name is re-exported here: `from patients.models import X` is the way in."""

from .idempotency import IdempotencyKey
from .reads import RecordRead
from .records import (
    PROCEDURE_FAMILY,
    Approach,
    Assessment,
    ClinicalEvent,
    EventCode,
    EventSource,
    Hardware,
    LumbarVertebrae,
    Patient,
    PatientIdentifier,
    PatientRecord,
    Procedure,
    ProcedureFamily,
    Sex,
    Surgery,
    SurgeryQuerySet,
)
from .tenancy import (
    DEFAULT_SCOPES,
    LAST_USED_PRECISION,
    ApiClient,
    ApiRequest,
    Clinic,
    Membership,
    Role,
    Scope,
    client_revoked,
    validate_timezone,
)

__all__ = [
    "DEFAULT_SCOPES",
    "LAST_USED_PRECISION",
    "PROCEDURE_FAMILY",
    "ApiClient",
    "ApiRequest",
    "Approach",
    "Assessment",
    "Clinic",
    "ClinicalEvent",
    "EventCode",
    "EventSource",
    "Hardware",
    "IdempotencyKey",
    "LumbarVertebrae",
    "Membership",
    "Patient",
    "PatientIdentifier",
    "PatientRecord",
    "Procedure",
    "ProcedureFamily",
    "RecordRead",
    "Role",
    "Scope",
    "Sex",
    "Surgery",
    "SurgeryQuerySet",
    "client_revoked",
    "validate_timezone",
]
