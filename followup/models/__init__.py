"""The follow-up's models, one module per concept: alerts, checkpoints, protocols,
thresholds, surgery plans, notifications, webhooks, FHIR subscriptions, hospital feeds
(HL7, DICOM)."""

from .alerts import Alert, AlertStatus, Severity
from .checkpoints import Checkpoint, CheckpointKind, CheckpointStatus
from .dicom import (
    BodyRegion,
    DicomSource,
    DoseCoefficient,
    DoseKind,
    DoseReport,
    DroppedStudy,
    PacsSyncRun,
    PacsSyncStatus,
)
from .feeds import FeedSilence, Hl7Message, Hl7Source, Hl7Status
from .fhir_subscriptions import FhirSubscription, FhirSubscriptionStatus, FhirTopic, PayloadContent
from .instruments import AssessmentField, Instrument
from .notifications import Email, EmailKind, EmailStatus, Subscription
from .outcomes import OutcomeStandards
from .plans import SurgeryPlan, plan_of
from .proms import PromInvitation, PromLink
from .protocols import CheckpointDefinition, Protocol
from .thresholds import Thresholds
from .webhooks import WebhookDelivery, WebhookEndpoint

__all__ = [
    "Alert",
    "AlertStatus",
    "AssessmentField",
    "BodyRegion",
    "Checkpoint",
    "CheckpointDefinition",
    "CheckpointKind",
    "CheckpointStatus",
    "DicomSource",
    "DoseCoefficient",
    "DoseKind",
    "DoseReport",
    "DroppedStudy",
    "Email",
    "EmailKind",
    "EmailStatus",
    "FeedSilence",
    "FhirSubscription",
    "FhirSubscriptionStatus",
    "FhirTopic",
    "Hl7Message",
    "Hl7Source",
    "Hl7Status",
    "Instrument",
    "OutcomeStandards",
    "PacsSyncRun",
    "PacsSyncStatus",
    "PayloadContent",
    "PromInvitation",
    "PromLink",
    "Protocol",
    "Severity",
    "Subscription",
    "SurgeryPlan",
    "Thresholds",
    "WebhookDelivery",
    "WebhookEndpoint",
    "plan_of",
]
