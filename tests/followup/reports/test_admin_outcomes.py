"""The outcomes report's screens: the managers' page with its tables and charts, the PDF
(its pages rendered to images with pdftoppm and read back with pdftotext), the CSV/XLSX
exports and the pseudonymised registry rows; each audited, none for other roles."""

import csv
import io
import shutil
import subprocess
from datetime import date, timedelta

import pytest
from django.test import Client
from django.utils import timezone
from openpyxl import load_workbook

from followup.pipeline import refresh
from followup.reports import registry, selection
from patients.models import Assessment, RecordRead, Role
from tests import factories
from tests.conftest import make_staff

pytestmark = pytest.mark.django_db
PAGE = "/admin/reports/outcomes/"


@pytest.fixture
def operated(clinic_a, protocols):
    """Six fusions by Dr A, planned, with baseline and 3-month scores; known MRNs, names and
    dates."""
    surgeries = []
    for n in range(6):
        patient = factories.patient(
            clinic_a, mrn=f"SECRET-MRN-{n}", family_name=f"Zebulon{n}", given_name="Quentin",
            birth_date=timezone.now().date() - timedelta(days=365 * 60 + n),
        )  # fmt: skip
        surgery = factories.surgery(
            patient, timezone.now() - timedelta(days=200 + n), procedure="tlif",
            levels=["L4-L5"], surgeon="Dr A",
        )  # fmt: skip
        for day, score in ((-3, 8), (90, 4)):
            Assessment.objects.create(
                patient=patient, surgery=surgery, nrs_back=score, odi=score * 8,
                assessed_at=surgery.performed_at + timedelta(days=day),
            )  # fmt: skip
        surgeries.append(surgery)
    refresh.refresh_many([s.pk for s in surgeries], timezone.now())
    return surgeries


def login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def manager(clinic_a):
    return login(make_staff("mona", clinic_a, Role.MANAGER))


def test_the_page_shows_tables_and_charts_to_managers(manager, operated):
    response = manager.get(PAGE, {"surgeon": "Dr A", "group_by": "surgeon"})
    assert response.status_code == 200
    html = response.content.decode()
    for table in ("groups", "capture", "proms", "fusion", "complications", "overdue"):
        assert f'id="{table}"' in html
    assert html.count('class="chart"') == 4 and "Mean improvement from baseline" in html
    assert "SECRET-MRN" not in html and "Zebulon" not in html
    assert RecordRead.objects.filter(endpoint__contains="outcomes", patient_ids=[]).exists()


def test_other_roles_and_clinics_get_nothing(clinic_a, clinic_b, operated):
    clinician = login(make_staff("carl", clinic_a, Role.CLINICIAN))
    for url in (PAGE, "/admin/reports/outcomes.pdf", "/admin/reports/outcomes.csv",
                "/admin/reports/registry.csv"):  # fmt: skip
        assert clinician.get(url).status_code == 403
    other = login(make_staff("otto", clinic_b, Role.MANAGER))
    assert other.get("/admin/reports/registry.csv", {"clinic": clinic_a.pk}).status_code == 404
    assert other.get(PAGE, {"clinic": clinic_a.pk}).status_code == 404
    own = other.get("/admin/reports/registry.csv")  # their own clinic: A's rows are not in it
    assert own.status_code == 200 and len(own.content.splitlines()) == 1


@pytest.mark.skipif(not shutil.which("pdftoppm"), reason="poppler-utils (make test installs it)")
def test_the_pdf_holds_the_tables_and_charts(manager, operated, tmp_path):
    response = manager.get("/admin/reports/outcomes.pdf", {"surgeon": "Dr A"})
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    pdf = tmp_path / "outcomes.pdf"
    pdf.write_bytes(response.content)
    subprocess.run(["pdftoppm", "-png", "-r", "50", pdf, tmp_path / "page"], check=True)
    pages = sorted(tmp_path.glob("page*.png"))
    assert pages
    from PIL import Image  # WeasyPrint's own dependency

    for page in pages:
        colours = Image.open(page).convert("L").getextrema()
        assert colours[0] < 100 < colours[1]  # ink on paper: not a blank page
    text = subprocess.run(["pdftotext", "-layout", pdf, "-"], capture_output=True, text=True,
                          check=True).stdout  # fmt: skip
    for heading in ("Follow-up capture", "PROM change from baseline", "Fusion",
                    "Complications seen on imaging", "Mean improvement", "nrs_back"):  # fmt: skip
        assert heading in text
    assert "4.0" in text  # the mean NRS back improvement of the six
    assert "SECRET-MRN" not in text


def test_the_figures_export_as_csv_and_xlsx(manager, operated):
    response = manager.get("/admin/reports/outcomes.csv", {"surgeon": "Dr A"})
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    mean = next(r for r in rows if r["section"] == "proms" and r["item"] == "3m nrs_back"
                and r["metric"] == "mean_improvement")  # fmt: skip
    assert float(mean["value"]) == 4.0
    book = load_workbook(io.BytesIO(manager.get("/admin/reports/outcomes.xlsx").content))
    assert next(book.active.iter_rows(values_only=True))[0] == "section"


def test_registry_rows_are_pseudonymised(manager, operated):
    response = manager.get("/admin/reports/registry.csv", {"shift_dates": "1"})
    text = response.content.decode()
    rows = list(csv.DictReader(io.StringIO(text)))
    # One row per surgery and time point: three films and two PROM time points each.
    assert len(rows) == 6 * 5 and len({r["surgery_key"] for r in rows}) == 6
    for secret in ("SECRET-MRN", "Zebulon", "Quentin"):
        assert secret not in text
    births = {s.patient.birth_date.isoformat() for s in operated}
    assert not births & {value for r in rows for value in r.values()}
    true_dates = {s.performed_at.astimezone(s.clinic.zone).date().isoformat() for s in operated}
    prom = next(r for r in rows if r["time_point"] == "3m")
    assert (prom["nrs_back_baseline"], prom["nrs_back"]) == ("8", "4")
    # A new salt for every export: keys cannot be linked between two exports.
    again = list(csv.DictReader(io.StringIO(
        manager.get("/admin/reports/registry.csv").content.decode()
    )))  # fmt: skip
    assert not {r["patient_key"] for r in rows} & {r["patient_key"] for r in again}
    # Without the shift, the true surgery dates.
    assert {r["surgery_date"] for r in again} <= true_dates
    audit = RecordRead.objects.filter(endpoint__contains="registry").first()
    assert sorted(audit.patient_ids) == sorted(s.patient_id for s in operated)
    xlsx = manager.get("/admin/reports/registry.xlsx", {"shift_dates": "1"})
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet.max_row == 1 + 6 * 5


def test_every_date_is_shifted_by_its_patients_offset(operated):
    clinic, now = operated[0].clinic, timezone.now()
    names = registry.Pseudonyms(shift_dates=True, salt=b"fixed for the test")
    header, rows, _ = registry.rows(clinic, selection.Filters(), now, names)
    by_key = {names.key("surgery", s.pk): s for s in operated}
    for row in (dict(zip(header, r, strict=True)) for r in rows):
        surgery = by_key[row["surgery_key"]]
        true = surgery.performed_at.astimezone(clinic.zone).date()
        shift = date.fromisoformat(row["surgery_date"]) - true
        assert shift == names.shift(surgery.patient_id) and shift.days != 0
        assert abs(shift.days) <= registry.MAX_SHIFT
        assert row["patient_key"] == names.key("patient", surgery.patient_id)
        assert str(surgery.patient.mrn) not in row.values()
