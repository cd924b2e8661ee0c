"""The synthetic cohort: a seed and a day give the same rows, another seed other rows, and
the rows look like a spine unit's follow-up (the rates are the generator's)."""

import json
from collections import defaultdict
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db.models import F

from followup.models import Alert, Checkpoint, CheckpointKind
from followup.ops.cohort import Generator
from imaging.models import Finding, ImagingExam
from patients.models import Assessment, Clinic, ClinicalEvent, Patient, Surgery

TODAY = date(2026, 3, 2)
NOW = datetime.combine(TODAY, time(12), tzinfo=ZoneInfo("UTC"))


def generate(seed: int, patients: int = 120):
    return Generator(seed=seed, today=TODAY).run(patients, patients_per_clinic=60)


def rows(queryset, *fields) -> list[str]:
    """The rows as text, in a fixed order: content, never ids (they differ run to run)."""
    return sorted(json.dumps(row, default=str) for row in queryset.values_list(*fields))


def snapshot(seed: int) -> dict[str, list[str]]:
    mine = {"patient__mrn__startswith": f"C{seed}-"}
    surgery = ("surgery__patient__mrn", "surgery__performed_at")
    return {
        "clinics": rows(Clinic.objects.filter(slug__startswith=f"cohort-{seed}-"),
                        "slug", "name", "timezone"),
        "patients": rows(Patient.objects.filter(mrn__startswith=f"C{seed}-"), "clinic__slug",
                         "mrn", "family_name", "given_name", "birth_date", "sex",
                         "transitional_variant"),
        "surgeries": rows(Surgery.objects.filter(**mine), "patient__mrn", "clinic__slug",
                          "performed_at", "procedure", "levels", "hardware", "surgeon",
                          "plan__protocol__family", "plan__protocol__version"),
        "exams": rows(ImagingExam.objects.filter(**mine), "accession_number", *surgery,
                      "modality", "contrast", "performed_at", "effective_dose_msv"),
        "findings": rows(Finding.objects.filter(exam__patient__mrn__startswith=f"C{seed}-"),
                         "exam__accession_number", "code", "value", "level", "side"),
        "checkpoints": rows(Checkpoint.objects.filter(**mine), *surgery, "code", "label",
                            "kind", "opens_at", "due_at", "overdue_at", "modalities",
                            "required", "overdue_severity", "satisfied_by__accession_number",
                            "late", "overdue_since"),
        "alerts": rows(Alert.objects.filter(**mine), *surgery, "checkpoint__code", "code",
                       "severity", "status", "message"),
        "events": rows(ClinicalEvent.objects.filter(**mine), *surgery, "occurred_at", "code"),
        "assessments": rows(Assessment.objects.filter(**mine), *surgery, "assessed_at",
                            "nrs_back", "nrs_leg", "odi"),
    }  # fmt: skip


def wipe(seed: int) -> None:
    Patient.objects.filter(mrn__startswith=f"C{seed}-").delete()  # cascades to the rest
    Clinic.objects.filter(slug__startswith=f"cohort-{seed}-").delete()


def test_the_same_seed_and_day_give_the_same_rows(protocols):
    counts = generate(seed=7).as_dict()
    first = snapshot(7)
    wipe(7)
    assert not Patient.objects.exists() and not Checkpoint.objects.exists()

    assert generate(seed=7).as_dict() == counts
    second = snapshot(7)
    assert {name: len(r) for name, r in second.items()} == {n: len(r) for n, r in first.items()}
    for name in first:
        assert second[name] == first[name], name


def test_another_seed_gives_another_cohort(protocols):
    generate(seed=7)
    generate(seed=8)

    def people(seed):
        return rows(Patient.objects.filter(mrn__startswith=f"C{seed}-"),
                    "family_name", "given_name", "birth_date", "sex")  # fmt: skip

    def operations(seed):
        return rows(Surgery.objects.filter(patient__mrn__startswith=f"C{seed}-"),
                    "performed_at", "procedure", "levels")  # fmt: skip

    assert people(7) != people(8)
    assert operations(7) != operations(8)


def test_the_counts_are_plausible(protocols):
    counts = generate(seed=7, patients=300)

    assert (counts.patients, counts.clinics) == (300, 5)
    assert 1.3 <= counts.surgeries / counts.patients <= 1.6  # 1, 2 or 3 operations
    assert 3 <= counts.exams / counts.surgeries <= 9
    assert counts.findings > counts.exams  # films of fusions, MRs of discs
    assert Patient.objects.count() == 300 and Surgery.objects.count() == counts.surgeries
    # Every surgery is planned with its family's protocol and pinned to the thresholds in
    # force, as the service would.
    assert not Surgery.objects.filter(plan__protocol__isnull=True).exists()
    assert not Surgery.objects.filter(plan__thresholds__isnull=True).exists()
    assert Checkpoint.objects.count() == counts.checkpoints > 2 * counts.surgeries

    # Films that were due: most done (on time or late), the rest overdue and alerted.
    past = Checkpoint.objects.filter(kind=CheckpointKind.EXAM, overdue_at__lte=NOW)
    satisfied = past.filter(satisfied_by__isnull=False)
    assert 0.8 <= satisfied.count() / past.count() <= 0.95
    assert 0.03 <= satisfied.filter(late=True).count() / satisfied.count() <= 0.15
    overdue = past.filter(satisfied_by__isnull=True)
    assert overdue.count() == past.exclude(overdue_since=None).count() == counts.alerts
    assert Alert.objects.filter(checkpoint__in=overdue).count() == counts.alerts
    # The findings' alerts are the service's own evaluation of the films written.
    assert counts.finding_alerts == Alert.objects.filter(checkpoint=None).count() > 0
    assert Alert.objects.filter(code="screw_loosening").exists()

    # Findings at the generator's rates: loosening on ~6% of fusion films, no bridging
    # in ~10% of films past a year, a spacer moved in a few.
    films = Finding.objects.filter(exam__patient__mrn__startswith="C7-")
    lucency = films.filter(code="screw_lucency_mm")
    assert 0.03 <= lucency.filter(value__gt=2).count() / lucency.count() <= 0.10
    late = films.filter(code="bridging", exam__performed_at__gte=F("exam__surgery__performed_at")
                        + timedelta(days=365))  # fmt: skip
    assert 0.04 <= late.filter(value="none").count() / late.count() <= 0.18
    spacer = films.filter(code="spacer_posterior_distance_mm").values_list("exam__surgery", "value")
    distances = defaultdict(set)
    for surgery, value in spacer:
        distances[surgery].add(value)
    moved = sum(len(values) > 1 for values in distances.values())
    assert 0 < moved / len(distances) <= 0.25

    # Nothing happens before its surgery or after the day the cohort is as of.
    exams = ImagingExam.objects.select_related("surgery")
    assert not exams.filter(performed_at__gte=NOW).exists()
    assert not [e for e in exams if e.performed_at < e.surgery.performed_at]
    assert not Assessment.objects.filter(assessed_at__gte=NOW).exists()
