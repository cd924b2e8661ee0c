from .alerts import Alert, AlertStatus, Severity
from .checkpoints import Checkpoint, CheckpointKind, CheckpointStatus
from .protocols import CheckpointDefinition, Protocol
from .thresholds import Thresholds

__all__ = [
    "Alert",
    "AlertStatus",
    "Checkpoint",
    "CheckpointDefinition",
    "CheckpointKind",
    "CheckpointStatus",
    "Protocol",
    "Severity",
    "Thresholds",
]
