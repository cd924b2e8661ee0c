"""The radiation dose picture: each exam's effective dose and the rolling total over the
dose window (the `cumulative_dose` rule's: Thresholds.dose_window_days, 365 by default),
at each exam and now. The same sum as the rule (followup/rules/across_exams.py): the
doses of the exams in (time - window, time]."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from followup.models import Thresholds


@dataclass(frozen=True)
class DoseWindow:
    days: int
    threshold_msv: Decimal

    @classmethod
    def of_clinic(cls, clinic_id: int) -> "DoseWindow":
        """The clinic's thresholds in force (one query)."""
        current = Thresholds.objects.current(clinic_id)
        return cls(current.dose_window_days, Decimal(current.cumulative_dose_msv))

    def total(self, doses: list[tuple[datetime, Decimal | None]], at: datetime) -> Decimal:
        since = at - timedelta(days=self.days)
        return sum((dose for when, dose in doses if dose is not None and since < when <= at),
                   Decimal(0))  # fmt: skip

    def summary(self, doses: list[tuple[datetime, Decimal | None]], now: datetime) -> dict:
        total = self.total(doses, now)
        return {"window_days": self.days, "total_msv": str(total),
                "threshold_msv": str(self.threshold_msv),
                "above_threshold": total > self.threshold_msv}  # fmt: skip
