"""The follow-up's models, one module per concept: alerts, checkpoints, protocols,
thresholds, surgery plans, notifications, webhooks, the DICOM feed."""

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
from .notifications import Email, EmailKind, EmailStatus, Subscription
from .plans import SurgeryPlan, plan_of
from .protocols import CheckpointDefinition, Protocol
from .thresholds import Thresholds
from .webhooks import WebhookDelivery, WebhookEndpoint

__all__ = [
    "Alert",
    "AlertStatus",
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
    "PacsSyncRun",
    "PacsSyncStatus",
    "Protocol",
    "Severity",
    "Subscription",
    "SurgeryPlan",
    "Thresholds",
    "WebhookDelivery",
    "WebhookEndpoint",
    "plan_of",
]
