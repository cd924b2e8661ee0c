"""`manage.py bench` at a tiny scale, so that it cannot rot: it generates the cohort, measures
every figure beside its floor and writes them; the timings themselves are not checked."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from followup.models import (
    Alert,
    Checkpoint,
    DicomSource,
    Email,
    Hl7Message,
    Hl7Source,
    SurgeryPlan,
)
from followup.ops import bench, cohort, serving
from imaging.models import ImagingExam
from patients.models import ApiClient, Patient

# The readers are a gunicorn and threads with their own connections: they must see
# committed rows.
pytestmark = pytest.mark.django_db(transaction=True)

FIGURES = {"sweep", "ingest", "dicom", "timeline", "alerts_list", "checkpoints_list",
           "alerts_open", "checkpoints_overdue", "digest", "report", "report_all_clinics",
           "hl7_sequential", "hl7_8_connections"}  # fmt: skip


def run_bench(out_dir, *args) -> tuple[dict, str]:
    stdout = StringIO()
    call_command(
        "bench", "--patients", "50", "--repeat", "1", "--clients", "2", "--requests", "2",
        "--ingest-exams", "20", "--digest-alerts", "300", "--out", str(out_dir), *args,
        stdout=stdout, stderr=StringIO(),
    )  # fmt: skip
    (path,) = out_dir.glob("bench-50-*.json")
    return json.loads(path.read_text()), stdout.getvalue()


def test_every_figure_is_written_beside_its_floor(protocols, tmp_path):
    report, table = run_bench(tmp_path)

    assert cohort.cohort_patients(cohort.SEED) == 50  # generated first
    assert set(report["figures"]) == FIGURES
    for name, figure in report["figures"].items():
        assert len(figure["runs"]) == len(figure["floor"]["runs"]) == 1, name
        assert figure["median"] > 0 and figure["floor"]["median"] > 0, name
        assert figure["ratio"] > 0, name
        assert name in table
    assert {"patients", "seed", "today", "machine", "data", "targets"} <= set(report)
    assert report["server"] == {"workers": serving.WORKERS, "threads": serving.THREADS}


def test_the_figures_do_the_same_work_as_their_floors(protocols, tmp_path):
    figures = run_bench(tmp_path)[0]["figures"]

    sweep = figures["sweep"]
    assert sweep["alerts"] == sweep["floor_alerts"] == sweep["due"]
    ingest = figures["ingest"]
    assert ingest["exams"] == 20 and ingest["surgeries"] > 0
    dicom = figures["dicom"]
    assert dicom["studies"] == dicom["stored"] == 20 and dicom["instances"] == 60
    digest = figures["digest"]
    assert digest["emails"] == digest["floor_emails"] == digest["clinics"] == 1
    assert digest["open_alerts"] >= 300
    # Reads answer pages of rows, in a number of queries that is part of the contract.
    assert figures["timeline"]["rows"] > bench.TIMELINE_EXAMS
    for name in ("timeline", "alerts_list", "checkpoints_list"):
        assert figures[name]["queries"] > 0, name


def test_the_hl7_figures_send_the_ingest_exams_to_the_real_listener(protocols, tmp_path):
    cohort.ensure_cohort(50)
    exams = ImagingExam.objects.count()

    figures = run_bench(tmp_path, "--figures", "hl7")[0]["figures"]

    assert set(figures) == {"hl7_sequential", "hl7_8_connections"}
    for name, connections in (("hl7_sequential", 1), ("hl7_8_connections", 8)):
        figure = figures[name]
        assert figure["unit"] == "exams/s" and figure["exams"] == 20, name
        assert figure["connections"] == connections and figure["surgeries"] > 0, name
        assert figure["median"] > 0 and figure["floor"]["median"] > 0, name
    # What the listener committed was undone: its exams, its messages, its source.
    assert ImagingExam.objects.count() == exams
    assert not Hl7Message.objects.exists() and not Hl7Source.objects.exists()


def test_the_database_is_left_as_it_was_found(protocols, tmp_path):
    cohort.ensure_cohort(50)
    before = (Alert.objects.count(), Checkpoint.objects.count(), ImagingExam.objects.count())

    run_bench(tmp_path, "--figures", "sweep,ingest,dicom,digest")

    after = (Alert.objects.count(), Checkpoint.objects.count(), ImagingExam.objects.count())
    assert after == before  # every state change was rolled back
    assert not Email.objects.exists()
    assert not ApiClient.objects.exists()
    assert not DicomSource.objects.exists()
    assert not SurgeryPlan.objects.filter(stale_since__isnull=False).exists()
    assert not Patient.objects.filter(mrn__startswith="BENCH").exists()  # reads not run


def test_an_unknown_figure_is_refused(protocols, tmp_path):
    with pytest.raises(CommandError, match="Unknown figure"):
        call_command("bench", "--patients", "1", "--figures", "sweep,speed", "--out", str(tmp_path))


def test_a_smaller_cohort_grows_in_place(protocols):
    assert cohort.ensure_cohort(30) == 30
    first = set(Patient.objects.values_list("mrn", flat=True))

    assert cohort.ensure_cohort(50) == 20
    assert cohort.ensure_cohort(50) == 0  # nothing lacks

    assert first < set(Patient.objects.values_list("mrn", flat=True))
    assert Patient.objects.count() == 50
    accessions = list(ImagingExam.objects.values_list("accession_number", flat=True))
    assert len(accessions) == len(set(accessions))


@pytest.mark.parametrize("option", ["--repeat", "--clients", "--requests", "--ingest-exams"])
def test_a_count_below_one_is_refused(protocols, tmp_path, option):
    with pytest.raises(CommandError, match=f"{option} must be at least 1"):
        call_command("bench", "--patients", "1", option, "0", "--out", str(tmp_path))
