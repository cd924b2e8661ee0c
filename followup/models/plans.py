"""What the follow-up planned for each surgery: the protocol and thresholds versions it is
pinned to, and the mark that says its follow-up must be worked out again."""

import pghistory
import pgtrigger
from django.db import models

from patients.models import Surgery

from .protocols import Protocol
from .thresholds import Thresholds

# Planning and re-planning are audited (with who re-planned); the stale mark is bookkeeping,
# not a change to the plan, and a row that so far carries only the mark is no plan yet.
PLANNED = pgtrigger.Q(new__protocol__isnull=False) | pgtrigger.Q(new__thresholds__isnull=False)
WAS_PLANNED = pgtrigger.Q(old__protocol__isnull=False) | pgtrigger.Q(old__thresholds__isnull=False)


@pghistory.track(
    pghistory.InsertEvent(condition=PLANNED),
    pghistory.UpdateEvent(),
    pghistory.DeleteEvent(condition=WAS_PLANNED),
    exclude=["stale_since"],
)
class SurgeryPlan(models.Model):
    """One per surgery, written only by the follow-up (never by a form or a serializer
    of the surgery). A surgery without one is not planned yet: no protocol, and judged
    with its clinic's thresholds in force."""

    surgery = models.OneToOneField(
        Surgery, primary_key=True, on_delete=models.CASCADE, related_name="plan"
    )
    # The protocol version its checkpoints were planned with (set by pipeline.schedule).
    protocol = models.ForeignKey(
        Protocol, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # The thresholds version its findings are judged with, pinned with the protocol
    # (CLINICAL_RULES §4, "Numbers are pinned"): a newer version reaches it only when
    # staff re-plan it.
    thresholds = models.ForeignKey(
        Thresholds, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Set in the same transaction as any change that needs the surgery's checkpoints
    # planned or matched again; cleared by the refresh that did it. The sweep catches up
    # on any left.
    stale_since = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["stale_since"],
                condition=models.Q(stale_since__isnull=False),
                name="surgeryplan_stale_idx",
            )
        ]

    def __str__(self) -> str:
        return f"plan of surgery {self.surgery_id}"


def plan_of(surgery: Surgery) -> SurgeryPlan:
    """The surgery's plan, loaded with it (`select_related("plan")`); an unsaved empty one
    (not planned yet) when it has none, kept on the surgery for the next caller."""
    try:
        return surgery.plan
    except SurgeryPlan.DoesNotExist:
        surgery.plan = SurgeryPlan(surgery=surgery)
        return surgery.plan
