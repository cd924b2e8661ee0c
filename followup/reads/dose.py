"""The radiation dose picture: each exam's effective dose and the rolling total over the
dose window (the `cumulative_dose` rule's: Thresholds.dose_window_days, 365 by default),
at each exam and now. The same sum as the rule (followup/rules/across_exams.py): the
doses of the exams in (time - window, time]."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import Sum

from followup.models import Thresholds
from imaging.models import ImagingExam
from patients.models import Patient


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


def distribution(clinic_id: int, now: datetime) -> tuple[DoseWindow, list[tuple[str, int]]]:
    """The clinic's patients by their effective dose over the dose window ending now, in
    bands up to and beyond the threshold (two queries, whatever the number of patients)."""
    window = DoseWindow.of_clinic(clinic_id)
    since = now - timedelta(days=window.days)
    totals = list(
        ImagingExam.objects.filter(clinic_id=clinic_id, performed_at__gt=since,
                                   performed_at__lte=now, effective_dose_msv__isnull=False)
        .order_by().values("patient_id").annotate(total=Sum("effective_dose_msv"))
        .values_list("total", flat=True)
    )  # fmt: skip
    patients = Patient.objects.filter(clinic_id=clinic_id).count()
    limit = window.threshold_msv
    edges = [Decimal(1), Decimal(5), limit / 2, limit]
    bands = [("none recorded", patients - len(totals))]
    low = Decimal(0)
    for high in edges:
        bands.append((f"{_mSv(low)} to {_mSv(high)} mSv",
                      sum(1 for t in totals if low < t <= high)))  # fmt: skip
        low = high
    bands.append((f"above {_mSv(limit)} mSv", sum(1 for t in totals if t > limit)))
    return window, bands


def _mSv(value: Decimal) -> str:
    return f"{value.normalize():f}"
