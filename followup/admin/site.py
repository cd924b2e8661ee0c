"""The admin for clinic staff: a worklist as the landing page, and a dashboard.

Worklist: "what needs me today?" (urgent and high alerts, overdue checkpoints,
work-ups due within 24 hours, checkpoints due this week), each row one click from
acting on it. Dashboard: "how is our clinic doing?". Both read a fixed number of
queries, scoped to the staff member's clinics.
"""

from datetime import timedelta

from django.contrib import admin, messages
from django.db.models import (
    Aggregate,
    Case,
    Count,
    DecimalField,
    F,
    FloatField,
    IntegerField,
    OuterRef,
    Q,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Extract
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, re_path, reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST

from followup.models import (
    Alert,
    AlertStatus,
    Checkpoint,
    CheckpointKind,
    CheckpointStatus,
    FeedSilence,
    OutcomeStandards,
    PromInvitation,
    Severity,
)
from followup.models.alerts import SEVERITY_ORDER
from followup.pipeline import alerts_lifecycle, waivers
from followup.reads import charts, dose
from patients.access import access_of
from patients.base.admin.scoping import AuditedAutocompleteJsonView, audit_when_rendered
from patients.models import Assessment, Clinic, FollowupStatus, Patient

from .outcomes import OutcomesViews

ROWS = 50  # per worklist section; the full lists are one click away
# PROMs on the worklist: missed in the last MISSED_DAYS, answered in the last ANSWERED_DAYS
# with a score worse than the patient's previous one by at least the clinic's MCID (its
# outcome standards: NRS back or leg, ODI), unanswered invitations in a row (the clinic's
# `lost_after_unanswered`) within LOST_LOOKBACK propose a patient as lost.
MISSED_DAYS, ANSWERED_DAYS = 30, 7
LOST_LOOKBACK = timedelta(days=3 * 365)


class Median(Aggregate):
    function = "percentile_cont"
    template = "percentile_cont(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()


class FollowupAdminSite(OutcomesViews, admin.AdminSite):
    site_header = "Spine follow-up"
    site_title = "Spine follow-up"
    index_title = "Worklist"
    index_template = "admin/followup/worklist.html"

    def get_urls(self):
        return [
            path("dashboard/", self.admin_view(self.dashboard), name="dashboard"),
            path("reports/outcomes/", self.admin_view(self.outcomes_page), name="outcomes"),
            path("reports/outcomes.pdf", self.admin_view(self.outcomes_pdf), name="outcomes_pdf"),
            re_path(r"^reports/outcomes\.(?P<fmt>csv|xlsx)$",
                    self.admin_view(self.outcomes_export), name="outcomes_export"),
            re_path(r"^reports/registry\.(?P<fmt>csv|xlsx)$",
                    self.admin_view(self.registry_export), name="registry_export"),
            path("worklist/alerts/<int:pk>/acknowledge/",
                 self.admin_view(self.acknowledge), name="worklist_acknowledge"),
            path("worklist/checkpoints/<int:pk>/waive/",
                 self.admin_view(self.waive), name="worklist_waive"),
            *super().get_urls(),
        ]  # fmt: skip

    # --- worklist ------------------------------------------------------------------------

    def index(self, request, extra_context=None):
        access = access_of(request)
        rows = worklist(access.readable, managed=access.managed)
        response = super().index(request, {**rows, **(extra_context or {})})
        return audit_when_rendered(request, response, lambda: worklist_rows(rows))

    def autocomplete_view(self, request):
        return AuditedAutocompleteJsonView.as_view(admin_site=self)(request)

    @staticmethod
    def _writable(request, model, pk):
        access = access_of(request)
        return get_object_or_404(model.objects.filter(clinic_id__in=access.writable), pk=pk)

    @staticmethod
    def _back(request):
        back = request.POST.get("next", "")
        # Only back to a page of this site: `next` comes from the client.
        if not url_has_allowed_host_and_scheme(back, {request.get_host()}, request.is_secure()):
            back = reverse("admin:index")
        return HttpResponseRedirect(back)

    def acknowledge(self, request, pk: int):
        return require_POST(self._acknowledge)(request, pk)

    def _acknowledge(self, request, pk: int):
        alert = self._writable(request, Alert, pk)
        try:
            alerts_lifecycle.acknowledge(alert, request.user, timezone.now())
            messages.success(request, f"Acknowledged: {alert.get_code_display()}.")
        except alerts_lifecycle.TransitionRefused as error:
            messages.error(request, str(error))
        return self._back(request)

    def waive(self, request, pk: int):
        return require_POST(self._waive)(request, pk)

    def _waive(self, request, pk: int):
        checkpoint = self._writable(request, Checkpoint, pk)
        reason = request.POST.get("reason", "").strip()
        if not reason:
            messages.error(request, "Give a reason to waive a checkpoint.")
            return self._back(request)
        try:
            waivers.waive(checkpoint, reason, request.user, timezone.now())
            messages.success(request, f"Waived: {checkpoint.label}.")
        except waivers.CannotWaive as error:
            messages.error(request, str(error))
        return self._back(request)

    # --- dashboard -----------------------------------------------------------------------

    def dashboard(self, request):
        clinics = Clinic.objects.filter(pk__in=access_of(request).readable)
        chosen = request.GET.get("clinic", "")
        clinic = clinics.filter(pk=chosen).first() if chosen.isdecimal() else clinics.first()
        context = {**self.each_context(request), "title": "Dashboard", "clinics": clinics,
                   "clinic": clinic, **(dashboard(clinic) if clinic else {})}  # fmt: skip
        return TemplateResponse(request, "admin/followup/dashboard.html", context)


def worklist(readable: frozenset[int], managed: frozenset[int] = frozenset()) -> dict:
    now = timezone.now()
    alerts = (
        Alert.objects.filter(clinic_id__in=readable, severity__in=[Severity.URGENT, Severity.HIGH])
        .exclude(status=AlertStatus.RESOLVED)
        .select_related("patient")
        .order_by(SEVERITY_ORDER.desc(), "created_at")[:ROWS]
    )
    pending = Checkpoint.objects.filter(clinic_id__in=readable).select_related("patient")
    unresolved = pending.with_status((CheckpointStatus.OPEN, CheckpointStatus.UPCOMING), now)
    return {
        "now": now,
        "urgent_alerts": [(a, a.status_at(now)) for a in alerts],
        # An optional checkpoint is never overdue: it is not a task for anyone.
        "overdue": list(
            pending.with_status(CheckpointStatus.OVERDUE, now)
            .filter(required=True)
            .exclude(kind=CheckpointKind.PROM)  # the PROM sections list them
            .order_by("due_at")[:ROWS]
        ),
        "workups_due": list(
            unresolved.filter(kind=CheckpointKind.WORKUP, due_at__lte=now + timedelta(1)).order_by(
                "due_at"
            )[:ROWS]
        ),
        # Operational alerts (no patient): the clinic's managers run its feeds.
        "silent_feeds": list(
            FeedSilence.objects.filter(clinic_id__in=managed, resolved_at__isnull=True)
            .select_related("source", "clinic")
            .order_by("since")[:ROWS]
        ),
        "due_this_week": list(
            unresolved.filter(kind=CheckpointKind.EXAM, due_at__lte=now + timedelta(7)).order_by(
                "due_at"
            )[:ROWS]
        ),
        **prom_rows(readable, now),
    }


def prom_rows(readable: frozenset[int], now) -> dict:
    """The patients' own questionnaires: due now, missed lately, answered worse, and the
    patients proposed as lost. Only patients still followed."""
    standards = OutcomeStandards.objects.current_of(sorted(readable))
    followed = Checkpoint.objects.filter(
        clinic_id__in=readable, kind=CheckpointKind.PROM,
        patient__followup_status=FollowupStatus.ACTIVE,
    ).select_related("patient")  # fmt: skip
    return {
        "proms_due": list(
            followed.with_status(CheckpointStatus.OPEN, now).order_by("due_at")[:ROWS]
        ),
        "proms_missing": list(
            followed.with_status(CheckpointStatus.OVERDUE, now)
            .filter(due_at__gte=now - timedelta(MISSED_DAYS))
            .order_by("-due_at")[:ROWS]
        ),
        "proms_worse": [(a, _worse(a)) for a in answered_worse(readable, standards, now)],
        "proposed_lost": proposed_lost(readable, standards, now),
    }


def _per_clinic(standards: dict, number: str, field) -> Case:
    """A clinic's number (of its outcome standards) as a column of the query."""
    return Case(
        *(When(clinic_id=c, then=Value(getattr(s, number))) for c, s in standards.items()),
        output_field=field,
    )


WORSE = (("nrs_back", "back pain", "nrs_mcid"), ("nrs_leg", "leg pain", "nrs_mcid"),
         ("odi", "ODI", "odi_mcid"))  # fmt: skip


def answered_worse(readable: frozenset[int], standards: dict, now) -> list[Assessment]:
    """Questionnaires answered lately with a score worse than the patient's previous one
    by at least the clinic's MCID; the newest first, filtered in the query."""
    previous = Assessment.objects.filter(
        patient=OuterRef("patient"), assessed_at__lt=OuterRef("assessed_at")
    ).order_by("-assessed_at", "-pk")
    decimal = DecimalField(max_digits=4, decimal_places=1)
    rows = (
        Assessment.objects.filter(
            clinic_id__in=readable, created_at__gte=now - timedelta(ANSWERED_DAYS),
            answers__kind=CheckpointKind.PROM,
            patient__followup_status=FollowupStatus.ACTIVE,
        )
        .annotate(**{f"before_{name}": Subquery(previous.values(name)[:1])
                     for name, _, _ in WORSE})
        .annotate(nrs_mcid=_per_clinic(standards, "nrs_mcid", decimal),
                  odi_mcid=_per_clinic(standards, "odi_mcid", decimal))
    )  # fmt: skip
    worse = Q()
    for name, _, mcid in WORSE:
        worse |= Q(**{f"{name}__gte": F(f"before_{name}") + F(mcid)})
    return list(
        rows.filter(worse).select_related("patient").distinct().order_by("-created_at")[:ROWS]
    )


def _worse(a: Assessment) -> list[str]:
    """What got worse since the patient's previous score, said plainly."""
    said = []
    for name, label, mcid in WORSE:
        now, before = getattr(a, name), getattr(a, f"before_{name}")
        if now is not None and before is not None and now - before >= getattr(a, mcid):
            said.append(f"{label} {before} → {now}")
    return said


def proposed_lost(readable: frozenset[int], standards: dict, now) -> list:
    """Patients still followed whose last invitations (window over; as many as the
    clinic's `lost_after_unanswered`) all went unanswered: staff decide whether they are
    lost (the patient's follow-up status). In the query: the invitations since the
    patient's last answered one are counted."""
    ended = PromInvitation.objects.filter(
        patient=OuterRef("pk"), cancelled_at__isnull=True, expires_at__lte=now,
        created_at__gte=now - LOST_LOOKBACK,
    )  # fmt: skip
    # In the order they were sent (their ids): the invitations since the last answered.
    last_answered = ended.filter(completed_at__isnull=False).order_by("-pk").values("pk")[:1]
    unanswered = (
        ended.filter(completed_at__isnull=True, pk__gt=OuterRef("last_answered"))
        .order_by()
        .values("patient")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return list(
        Patient.objects.filter(clinic_id__in=readable, followup_status=FollowupStatus.ACTIVE)
        .annotate(last_answered=Coalesce(Subquery(last_answered), 0))
        .annotate(
            unanswered=Coalesce(Subquery(unanswered), 0),
            enough=_per_clinic(standards, "lost_after_unanswered", IntegerField()),
        )
        .filter(unanswered__gte=F("enough"))
        .only("pk", "mrn", "given_name", "family_name", "clinic_id")
        .order_by("pk")[:ROWS]
    )


def worklist_rows(rows: dict) -> list:
    """The alerts, checkpoints and scores the worklist showed, for the audit of reads."""
    alerts = [alert for alert, _ in rows["urgent_alerts"]]
    return (
        alerts + rows["overdue"] + rows["workups_due"] + rows["due_this_week"]
        + rows["proms_due"] + rows["proms_missing"] + [a for a, _ in rows["proms_worse"]]
        + rows["proposed_lost"]
    )  # fmt: skip


def dashboard(clinic: Clinic) -> dict:
    now = timezone.now()
    year_ago = now - timedelta(days=365)
    # Judged once the window and its grace are over: then "missed" means overdue.
    past_due = Checkpoint.objects.filter(
        clinic=clinic, kind=CheckpointKind.EXAM, overdue_at__lte=now
    )
    completion = list(
        past_due.values("code")
        .annotate(
            on_time=Count("pk", filter=Q(satisfied_by__isnull=False, late=False)),
            late=Count("pk", filter=Q(satisfied_by__isnull=False, late=True)),
            missed=Count("pk", filter=Q(satisfied_by__isnull=True, waived_at__isnull=True)),
            waived=Count("pk", filter=Q(waived_at__isnull=False, satisfied_by__isnull=True)),
        )
        .order_by("code")
    )
    alert_rows = (
        Alert.objects.filter(clinic=clinic, created_at__gte=year_ago)
        .values("code", "severity")
        .annotate(n=Count("pk"))
    )
    by_code: dict[str, dict[str, int]] = {}
    for row in alert_rows:
        by_code.setdefault(row["code"], {})[row["severity"]] = row["n"]
    severities = [Severity.URGENT, Severity.HIGH, Severity.WARNING, Severity.INFO]
    capture = list(
        Checkpoint.objects.filter(clinic=clinic, kind=CheckpointKind.PROM, due_at__lte=now)
        .exclude(not_applicable=True)
        .values("code")
        .annotate(
            answered=Count("pk", filter=Q(answered_by__isnull=False)),
            missed=Count("pk", filter=Q(answered_by__isnull=True, waived_at__isnull=True)),
        )
        .order_by("code")
    )
    for row in capture:
        owed = row["answered"] + row["missed"]
        row["rate"] = round(100 * row["answered"] / owed) if owed else None
    median = Alert.objects.filter(
        clinic=clinic, created_at__gte=year_ago, acknowledged_at__isnull=False
    ).aggregate(days=Median(Extract(F("acknowledged_at") - F("created_at"), "epoch") / 86400.0))
    return {
        "completion": completion,
        "completion_chart": mark_safe(charts.stacked_bars(
            "Checkpoints past due: on time, late, missed, waived",
            [(r["code"], [r["on_time"], r["late"], r["missed"], r["waived"]]) for r in completion],
            [("on time", "#8fd19e"), ("late", "#ffe08a"), ("missed", "#f28b82"),
             ("waived", "#c7c7c7")],
        )),
        "alerts_chart": mark_safe(charts.stacked_bars(
            "Alerts of the last 12 months, by code and severity",
            [(code, [n.get(s, 0) for s in severities]) for code, n in sorted(by_code.items())],
            [("urgent", "#b00020"), ("high", "#d9480f"), ("warning", "#e6a700"),
             ("info", "#6c8ebf")],
        )),
        "median_days_to_acknowledge": median["days"],
        # PROM capture per time point, over the windows closed (not-applicable ones out).
        "prom_capture": capture,
        **_dose_chart(clinic, now),
    }  # fmt: skip


def _dose_chart(clinic: Clinic, now) -> dict:
    window, bands = dose.distribution(clinic.pk, now)
    title = (f"Patients by effective dose over the last {window.days} days "
             f"(threshold {window.threshold_msv:g} mSv)")  # fmt: skip
    rows = [(label, [n]) for label, n in bands] if any(n for _, n in bands) else []
    chart = charts.stacked_bars(title, rows, [("patients", "#6c8ebf")])
    return {"dose_chart": mark_safe(chart)}  # built from escaped parts by reads/charts.py
