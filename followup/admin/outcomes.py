"""The outcomes report's screens for managers (docs/outcomes.md): the page with its tables
and SVG charts, the same as a PDF (WeasyPrint), the figures as CSV/XLSX, and the
pseudonymised registry rows as CSV/XLSX.

Each view declares who may use it (`manager_only`: managers of the clinic, and
superusers) and each answer is audited as a read (`RecordRead`): the report's with nobody's
record in it, the registry's with the patients it holds.
"""

import csv
import functools
import io

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.safestring import mark_safe

from followup.api.reports import OutcomesQuerySerializer
from followup.reads import charts
from followup.reports import outcomes, registry, selection
from patients.access import access_of
from patients.base.middleware import route_of
from patients.models import Clinic, Procedure, RecordRead

MEASURE_LABELS = {"nrs_back": "NRS back", "nrs_leg": "NRS leg", "odi": "ODI"}


def manager_only(view):
    """The permission every outcomes view declares: managers of at least one clinic."""

    @functools.wraps(view)
    def wrapped(site, request, *args, **kwargs):
        if not access_of(request).managed:
            raise PermissionDenied("The outcomes report is for the clinic's managers.")
        return view(site, request, *args, **kwargs)

    wrapped.permission = "manager"
    return wrapped


def _query(request) -> tuple[Clinic, selection.Filters, dict]:
    params = {k: v for k, v in request.GET.items() if v != "" and k not in ("shift_dates",)}
    form = OutcomesQuerySerializer(data=params)
    if not form.is_valid():
        raise Http404("Unknown filter value.")  # the page's own form never sends one
    managed = access_of(request).managed
    chosen = form.validated_data.get("clinic")
    clinics = Clinic.objects.filter(pk__in=managed).order_by("name")
    clinic = clinics.filter(pk=chosen).first() if chosen else clinics.first()
    if clinic is None:
        raise Http404
    return clinic, form.filters(), {"clinics": clinics}


def _audit(request, clinic: Clinic, patient_ids=()) -> None:
    RecordRead.objects.create(
        clinic=clinic, user=request.user, endpoint=route_of(request),
        patient_ids=list(patient_ids), at=timezone.now(),
    )  # fmt: skip


def report_context(clinic: Clinic, filters: selection.Filters) -> dict:
    data = outcomes.run(clinic, filters, timezone.now())
    mine = [r for r in data["capture"] if r["scope"] == "all"]
    proms = [r for r in data["proms"] if r["scope"] == "all"]
    complications = next((r for r in data["complications"] if r["scope"] == "all"), None)
    fusion = [r for r in data["fusion"] if r["scope"] != "group"]
    return {
        "report": data,
        "filters": filters,
        "capture_chart": mark_safe(charts.stacked_bars(
            "Checkpoints: on time, late, missed, not applicable, not yet due",
            [(r["code"], [r[k] or 0 for k in ("on_time", "late", "missed", "not_applicable",
                                             "pending")]) for r in mine],
            [("on time", "#8fd19e"), ("late", "#ffe08a"), ("missed", "#f28b82"),
             ("not applicable", "#c7c7c7"), ("not yet due", "#dde6f0")],
        )),
        "prom_chart": mark_safe(charts.intervals(
            "Mean improvement from baseline (points), 95% interval",
            [(f"{MEASURE_LABELS[r['measure']]} at {r['time_point']} (n={r['n']})",
              *_triple(r["mean_improvement"])) for r in proms],
        )),
        "fusion_chart": mark_safe(charts.intervals(
            "Complete bridging at the 12-month assessment (%), 95% interval",
            [(f"{r['group'] or 'All fusions'} (n={r['assessed']})",
              *_triple(r["complete_bridging_rate"], 100)) for r in fusion],
            unit="%",
        )),
        "complications_chart": mark_safe(charts.intervals(
            "Complications seen on imaging, per 100 surgeries, 95% interval",
            [(c["label"], *_triple(c["per_100"])) for c in complications["complications"]]
            if complications else [],
        )),
    }  # fmt: skip


def _triple(figure: dict, scale: float = 1.0):
    return tuple(None if figure[k] is None else figure[k] * scale for k in ("value", "low", "high"))


class OutcomesViews:
    """Mixed into the admin site (site.py) beside the worklist and the dashboard."""

    @manager_only
    def outcomes_page(self, request):
        clinic, filters, extra = _query(request)
        context = {
            **self.each_context(request), "title": "Outcomes report", "clinic": clinic,
            "procedures": Procedure.choices, "group_choices": list(selection.GROUP_BY),
            "query": request.GET.urlencode(), **extra, **report_context(clinic, filters),
        }  # fmt: skip
        response = TemplateResponse(request, "admin/followup/outcomes.html", context)
        _audit(request, clinic)
        return response

    @manager_only
    def outcomes_pdf(self, request):
        from weasyprint import HTML  # heavy: loaded when a PDF is asked for

        clinic, filters, _ = _query(request)
        context = {"clinic": clinic, "pdf": True, **report_context(clinic, filters)}
        html = render_to_string("admin/followup/outcomes_report.html", context, request)
        pdf = HTML(string=html).write_pdf()
        _audit(request, clinic)
        return _download(pdf, "application/pdf", "outcomes.pdf")

    @manager_only
    def outcomes_export(self, request, fmt: str):
        clinic, filters, _ = _query(request)
        header, rows = flatten(outcomes.run(clinic, filters, timezone.now()))
        _audit(request, clinic)
        return _table(header, rows, fmt, "outcomes")

    @manager_only
    def registry_export(self, request, fmt: str):
        clinic, filters, _ = _query(request)
        names = registry.Pseudonyms(shift_dates=request.GET.get("shift_dates") == "1")
        header, rows, patients = registry.rows(clinic, filters, timezone.now(), names)
        _audit(request, clinic, patients)
        return _table(header, rows, fmt, "registry")


def flatten(report: dict) -> tuple[list[str], list[list]]:
    """The report as one table: a line per figure (value and its interval) or count."""
    header = ["section", "scope", "group", "item", "metric", "value", "low", "high",
              "suppressed"]  # fmt: skip
    rows = []
    keys = {"capture": ("kind", "code"), "proms": ("time_point", "measure"), "fusion": (),
            "acknowledgement": ("severity",), "overdue": ("code",), "groups": ()}  # fmt: skip
    for section, item_keys in keys.items():
        for row in report[section]:
            item = " ".join(str(row[k]) for k in item_keys if row.get(k))
            for metric, value in row.items():
                if metric in ("scope", "group", "suppressed", *item_keys, "label"):
                    continue
                rows.append(_line(section, row, item, metric, value))
    for row in report["complications"]:
        rows.append(_line("complications", row, "", "surgeries", row["surgeries"]))
        for c in row["complications"]:
            rows.append(_line("complications", row, c["code"], "surgeries", c["surgeries"]))
            rows.append(_line("complications", row, c["code"], "per_100", c["per_100"]))
    return header, rows


def _line(section, row, item, metric, value) -> list:
    figure = value if isinstance(value, dict) else {"value": value, "low": None, "high": None}
    return [section, row["scope"], row["group"], item, metric, *(
        "" if figure[k] is None else figure[k] for k in ("value", "low", "high")
    ), row.get("suppressed", False)]  # fmt: skip


def _table(header: list[str], rows: list[list], fmt: str, name: str) -> HttpResponse:
    if fmt == "xlsx":
        from openpyxl import Workbook

        book = Workbook(write_only=True)
        sheet = book.create_sheet(name)
        sheet.append(header)
        for row in rows:
            sheet.append(row)
        buffer = io.BytesIO()
        book.save(buffer)
        return _download(
            buffer.getvalue(),
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            f"{name}.xlsx",
        )
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(header)
    writer.writerows(rows)
    return _download(text.getvalue().encode(), "text/csv; charset=utf-8", f"{name}.csv")


def _download(body: bytes, content_type: str, filename: str) -> HttpResponse:
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response
