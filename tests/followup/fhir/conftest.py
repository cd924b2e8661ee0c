"""FHIR test helpers: a patient's full record, R4 validation, the official examples."""

import json
import shutil
import subprocess
import tarfile
from datetime import date, timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone
from fhir.resources.R4B import get_fhir_model_class

from followup.models import Alert, Checkpoint
from patients.models import Assessment, PatientIdentifier
from tests import factories

FHIR_JSON = "application/fhir+json"
EXAMPLES_PACKAGE = "hl7.fhir.r4b.examples@4.3.0"
EXAMPLE_TYPES = ("Patient", "Procedure", "ImagingStudy", "DiagnosticReport")


def valid(resource: dict) -> dict:
    """The resource parsed by the FHIR R4 model class of its type (fhir.resources, R4B)."""
    get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    return resource


def fhir_get(persona, url: str, status: int = 200) -> dict:
    response = persona.api.get(url)
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith(FHIR_JSON)
    return response.json()


def fhir_post(persona, url: str, body: dict):
    response = persona.api.post(url, json.dumps(body), content_type=FHIR_JSON)
    assert response["Content-Type"].startswith(FHIR_JSON)
    return response


def search(persona, url: str) -> list[dict]:
    bundle = valid(fhir_get(persona, url))
    assert bundle["type"] == "searchset"
    return [entry["resource"] for entry in bundle.get("entry", [])]


def transaction(*resources: dict, full_urls: list[str] | None = None) -> dict:
    full_urls = full_urls or [f"urn:uuid:entry-{n}" for n in range(len(resources))]
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"fullUrl": url, "resource": r, "request": {"method": "POST", "url": r["resourceType"]}}
            for url, r in zip(full_urls, resources, strict=True)
        ],
    }


def checkpoint(surgery, code: str, days: int, **fields) -> Checkpoint:
    opens = surgery.performed_at + timedelta(days=days)
    fields.setdefault("kind", "exam")
    return Checkpoint.objects.create(
        clinic_id=surgery.clinic_id,
        patient_id=surgery.patient_id,
        surgery=surgery,
        code=code,
        label=code.replace("_", " "),
        opens_at=opens,
        due_at=opens + timedelta(days=42),
        overdue_at=opens + timedelta(days=49),
        modalities=["XR"],
        **fields,
    )


def alert(surgery, code: str = "screw_loosening", **fields) -> Alert:
    fields.setdefault("subject", f"L5:left:{code}")
    return Alert.objects.create(
        clinic_id=surgery.clinic_id,
        patient_id=surgery.patient_id,
        surgery=surgery,
        code=code,
        severity="high",
        message=f"{code} at L5 left",
        **fields,
    )


@pytest.fixture
def record(clinic_a):
    """One patient of clinic A with everything the FHIR interface shows."""
    patient = factories.patient(
        clinic_a,
        birth_date=date(1961, 4, 2),
        sex="female",
        given_name="Anna Maria",
        transitional_variant="L6 (lumbarised S1)",
        vertebral_numbering="counted from C2",
    )
    PatientIdentifier.objects.create(patient=patient, system="urn:oid:1.2.3.4", value="EHR-77")
    now = timezone.now()
    surgery = factories.surgery(
        patient,
        now - timedelta(days=120),
        procedure="tlif",
        levels=["L4-L5", "L5-S1"],
        approach="transforaminal",
        surgeon="Dr Ortega",
        notes="Uneventful.",
    )
    exam = factories.exam(
        patient,
        surgery,
        modality="XR",
        contrast="none",
        views=["AP", "lateral"],
        performed_at=now - timedelta(days=90),
        study_instance_uid="1.2.840.99999.1.2",
        effective_dose_msv="0.150",
        report="Screws in place; partial bridging.",
        findings=[
            {"code": "bridging", "value": "partial", "level": "L4-L5"},
            {"code": "screw_lucency_mm", "value": 2.5, "level": "L5", "side": "left"},
            {"code": "rod_fracture", "value": False},
        ],
    )
    mri = factories.exam(patient, surgery, modality="MR", performed_at=now - timedelta(days=30))
    baseline = checkpoint(surgery, "baseline_film", 0, satisfied_by=exam)
    checkpoint(surgery, "bridging_film", 90)
    checkpoint(surgery, "gadolinium_cutoff", 183, kind="milestone")
    assessment = Assessment.objects.create(
        patient=patient, surgery=surgery, assessed_at=now - timedelta(days=60), nrs_back=3, odi=28
    )
    open_alert = alert(surgery)
    resolved = alert(surgery, "baseline_missing", status="resolved", resolved_at=now)
    return {
        "patient": patient,
        "surgery": surgery,
        "exam": exam,
        "mri": mri,
        "checkpoint": baseline,
        "assessment": assessment,
        "alert": open_alert,
        "resolved_alert": resolved,
    }


# The official HL7 examples, from the npm registry, cached under var/.


def _fetch_examples(target: Path) -> None:
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail(
            f"npm is needed to fetch the official FHIR examples ({EXAMPLES_PACKAGE}) from the "
            "npm registry: install Node.js and npm.",
            pytrace=False,
        )
    download = target.parent / "download"
    shutil.rmtree(download, ignore_errors=True)
    download.mkdir(parents=True)
    try:
        done = subprocess.run(
            [npm, "pack", EXAMPLES_PACKAGE, "--pack-destination", str(download), "--silent"],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"npm pack {EXAMPLES_PACKAGE} took more than 10 minutes.", pytrace=False)
    archives = list(download.glob("*.tgz"))
    if done.returncode != 0 or not archives:
        pytest.fail(
            f"Could not fetch {EXAMPLES_PACKAGE} with `npm pack` (exit {done.returncode}); is "
            f"the npm registry reachable?\n{done.stderr.strip()[-2000:]}",
            pytrace=False,
        )
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    with tarfile.open(archives[0]) as archive:
        for member in archive.getmembers():
            name = Path(member.name).name
            if member.isfile() and name.split("-")[0] in EXAMPLE_TYPES and name.endswith(".json"):
                (partial / name).write_bytes(archive.extractfile(member).read())
    partial.rename(target)  # only a complete copy is ever seen as the cache
    shutil.rmtree(download, ignore_errors=True)


@pytest.fixture(scope="session")
def fhir_examples() -> Path:
    """The directory of the official Patient, Procedure, ImagingStudy and DiagnosticReport
    examples; fetched with `npm pack` the first time, then read from var/cache/."""
    target = Path(settings.VAR_DIR) / "cache" / "fhir-examples" / EXAMPLES_PACKAGE
    if not target.is_dir():
        target.parent.mkdir(parents=True, exist_ok=True)
        _fetch_examples(target)
    return target


def example(directory: Path, name: str) -> dict:
    path = directory / f"{name}.json"
    assert path.is_file(), f"{path} is not in {EXAMPLES_PACKAGE}"
    return json.loads(path.read_text())
