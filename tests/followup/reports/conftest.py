"""A planted cohort for the outcomes report: known effects the report must find again, and
the raw rows the tests compute the figures from, independently of the report's SQL."""

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from followup.models import Alert, Checkpoint
from followup.ops.cohort import Effects, Generator
from imaging.models import Finding
from patients.models import Assessment, Clinic, Patient, Surgery

TODAY = date(2026, 3, 2)
NOW = datetime.combine(TODAY, time(12), tzinfo=ZoneInfo("UTC"))
SEED = 41
SURGEONS = ["Dr Weak", "Dr Adams", "Dr Baker", "Dr Clark"]
EFFECTS = Effects(
    weak_surgeon="Dr Weak",
    weak_surgeon_non_union=0.6,
    loose_procedure="tlif",
    loose_procedure_loosening=0.6,
    prom_improvement={"nrs_back": 3.0, "nrs_leg": 2.5, "odi": 20.0},
)


@pytest.fixture(scope="module")
def planted(django_db_setup, django_db_blocker):
    """300 patients in one clinic (the cohort's clinic 0), generated once for the module and
    removed after it."""
    with django_db_blocker.unblock():
        Generator(seed=SEED, today=TODAY, effects=EFFECTS, surgeons=SURGEONS).run(
            300, patients_per_clinic=300
        )
        clinic = Clinic.objects.get(slug=f"cohort-{SEED}-0")
        yield clinic
        Patient.objects.filter(clinic=clinic).delete()
        Alert.objects.filter(clinic=clinic).delete()
        clinic.delete()


def frames(clinic: Clinic) -> dict[str, pd.DataFrame]:
    """The raw rows of the clinic, as they are stored."""
    zone = clinic.timezone
    surgeries = pd.DataFrame(
        Surgery.objects.filter(clinic=clinic).values(
            "id", "patient_id", "procedure", "surgeon", "levels", "performed_at"
        )
    )
    surgeries["n_levels"] = surgeries["levels"].map(len)
    surgeries["day"] = surgeries["performed_at"].dt.tz_convert(zone).dt.date
    surgeries = surgeries.sort_values(["patient_id", "performed_at", "id"])
    surgeries["next_at"] = surgeries.groupby("patient_id")["performed_at"].shift(-1)
    assessments = pd.DataFrame(
        Assessment.objects.filter(clinic=clinic).values(
            "id", "patient_id", "assessed_at", "nrs_back", "nrs_leg", "odi"
        )
    )
    assessments["day"] = assessments["assessed_at"].dt.tz_convert(zone).dt.date
    checkpoints = pd.DataFrame(
        Checkpoint.objects.filter(clinic=clinic).values(
            "id", "surgery_id", "kind", "code", "required", "satisfied_by_id", "answered_by_id",
            "late",
            "waived_at", "overdue_at", "satisfied_by__performed_at",
        )
    )  # fmt: skip
    findings = pd.DataFrame(
        Finding.objects.filter(exam__clinic=clinic, code="bridging").values("exam_id", "value")
    )
    alerts = pd.DataFrame(
        Alert.objects.filter(clinic=clinic).values(
            "surgery_id", "code", "severity", "auto_resolved", "created_at", "acknowledged_at"
        )
    )
    return {
        "surgeries": surgeries,
        "assessments": assessments,
        "checkpoints": checkpoints,
        "bridging": findings,
        "alerts": alerts,
    }
