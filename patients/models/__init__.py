"""The patients app's models, one module per concept: tenancy (clinics, staff, API
clients), smart (the parties that sign JWTs: SMART backend clients, CDS Hooks EHRs),
records (patients, surgeries), events (clinical events, assessments), reads (the read
audit), idempotency (replayable POSTs).
Every name is re-exported here: `from patients.models import X` is the way in."""

from .events import Assessment, ClinicalEvent, EventCode, EventSource, PatientRecord
from .idempotency import IdempotencyKey
from .reads import RecordRead
from .records import (
    PROCEDURE_FAMILY,
    Approach,
    FollowupStatus,
    Hardware,
    Language,
    LumbarVertebrae,
    Patient,
    PatientIdentifier,
    Procedure,
    ProcedureFamily,
    Sex,
    Surgery,
    SurgeryQuerySet,
)
from .smart import (
    JWT_ALGORITHMS,
    SMART_SCOPES,
    CdsHooksClient,
    SeenJwt,
    SmartAccessToken,
    SmartClient,
    validate_jwks,
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
    "JWT_ALGORITHMS",
    "LAST_USED_PRECISION",
    "PROCEDURE_FAMILY",
    "SMART_SCOPES",
    "ApiClient",
    "ApiRequest",
    "Approach",
    "Assessment",
    "CdsHooksClient",
    "Clinic",
    "ClinicalEvent",
    "EventCode",
    "EventSource",
    "FollowupStatus",
    "Hardware",
    "IdempotencyKey",
    "Language",
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
    "SeenJwt",
    "Sex",
    "SmartAccessToken",
    "SmartClient",
    "Surgery",
    "SurgeryQuerySet",
    "client_revoked",
    "validate_jwks",
    "validate_timezone",
]
