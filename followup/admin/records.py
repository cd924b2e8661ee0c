"""The follow-up on the records' pages (patients/admin/): a clinic's digest preview, each
patient's and surgery's timeline pictures, the patient's exams, the checkpoints of a
surgery and of a symptom's work-up, and the re-plan action. Registered over the patients'
own pages, which know nothing of the follow-up."""

from django.contrib import admin, messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from followup.delivery import digest
from followup.models import Protocol, Thresholds, plan_of
from followup.pipeline.refresh import refresh_many
from followup.reads import picture, timeline
from imaging.admin import ExamInline
from patients.access import access_of
from patients.admin import records, tenancy
from patients.models import Clinic, ClinicalEvent, Patient, RecordRead, Surgery

from .checkpoints_and_alerts import CheckpointInline


def pictures(patient: Patient, only: int | None = None) -> str:
    """The patient's follow-up, one SVG per surgery (followup/reads/picture.py)."""
    now = timezone.now()
    entries = timeline.build(patient, now)
    svgs = [
        picture.render(entry, entries, now, patient.transitional_variant, patient.lumbar_vertebrae)
        for entry in entries
        if entry.type == "surgery" and only in (None, entry.id)
    ]
    # Built from escaped parts by followup/reads/picture.py.
    return mark_safe("".join(f"<div class='picture'>{svg}</div>" for svg in svgs) or "-")


class ClinicAdmin(tenancy.ClinicAdmin):
    """A clinic, with a preview of its digest."""

    list_display = [*tenancy.ClinicAdmin.list_display, "preview_link"]

    def get_urls(self):
        preview = self.admin_site.admin_view(self.digest_preview)
        return [
            path("<int:pk>/digest-preview/", preview, name="patients_clinic_digest_preview"),
            *super().get_urls(),
        ]

    def digest_preview(self, request, pk: int):
        """The clinic's digest as it would be sent now (last 24 hours as 'new'); sends nothing."""
        clinic = get_object_or_404(self.get_queryset(request), pk=pk)
        now = timezone.now()
        data = digest.collect(clinic, now)
        local_date = timezone.localtime(now, clinic.zone).date()
        _, _, html = digest.render(
            digest.for_recipient(data, local_date, now - timezone.timedelta(days=1))
        )
        # A read of the patients it lists (MRN and initials), audited like every other.
        shown = {row.patient_id for rows in (data.open_alerts, data.overdue, data.due_soon,
                                             data.milestones) for row in rows}  # fmt: skip
        if shown:
            RecordRead.objects.create(
                clinic=clinic, user=request.user, endpoint=request.path,
                patient_ids=sorted(shown), at=now,
            )  # fmt: skip
        return HttpResponse(html)

    @admin.display(description="digest")
    def preview_link(self, clinic: Clinic) -> str:
        url = reverse("admin:patients_clinic_digest_preview", args=[clinic.pk])
        return format_html('<a href="{}">Preview</a>', url)


class PatientAdmin(records.PatientAdmin):
    """A patient, with their follow-up's picture and their exams."""

    readonly_fields = ["follow_up_picture", "radiation_dose",
                       *records.PatientAdmin.readonly_fields]  # fmt: skip
    fieldsets = [
        records.PatientAdmin.fieldsets[0],
        ("Follow-up", {"fields": ["follow_up_picture"]}),
        ("Radiation dose", {"fields": ["radiation_dose"]}),
        *records.PatientAdmin.fieldsets[1:],
    ]
    inlines = [*records.PatientAdmin.inlines]
    inlines.insert(inlines.index(records.SurgeryInline) + 1, ExamInline)

    @admin.display(description="Timeline")
    def follow_up_picture(self, obj: Patient) -> str:
        return pictures(obj) if obj.pk else ""

    @admin.display(description="Effective dose")
    def radiation_dose(self, obj: Patient) -> str:
        """Each exam's dose and the rolling total over the dose window, as the
        cumulative_dose rule sums it; the total now against the clinic's threshold."""
        if not obj.pk:
            return ""
        now = timezone.now()
        exams = [e for e in timeline.build(obj, now) if e.type == "exam"]
        summary = timeline.dose(obj, exams, now)
        rows = format_html_join(
            "", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((f"{timezone.localtime(e.at, obj.clinic.zone):%Y-%m-%d %H:%M}", e.data["modality"],
              e.data["accession_number"], e.data["effective_dose_msv"] or "-",
              e.data["dose_window_msv"]) for e in reversed(exams)),
        )  # fmt: skip
        flag = " (above the threshold)" if summary["above_threshold"] else ""
        return format_html(
            "<p><strong>{} mSv</strong> over the last {} days; threshold {} mSv{}.</p>"
            "<table><thead><tr><th>Exam</th><th>Modality</th><th>Accession</th>"
            "<th>Dose (mSv)</th><th>{}-day total at the exam (mSv)</th></tr></thead>"
            "<tbody>{}</tbody></table>",
            summary["total_msv"], summary["window_days"], summary["threshold_msv"], flag,
            summary["window_days"], rows,
        )  # fmt: skip


class SurgeryAdmin(records.SurgeryAdmin):
    """A surgery, with its picture, its checkpoints and the re-plan action."""

    inlines = [CheckpointInline]
    actions = ["replan_onto_current_versions"]
    readonly_fields = ["follow_up_picture", *records.SurgeryAdmin.readonly_fields]

    @admin.display(description="Timeline")
    def follow_up_picture(self, obj: Surgery) -> str:
        return pictures(obj.patient, only=obj.pk) if obj.pk else ""

    def has_replan_permission(self, request) -> bool:
        """Clinicians and managers re-plan their clinics' surgeries; a viewer only reads."""
        return bool(access_of(request).writable)

    @admin.action(
        description="Re-plan onto the current protocol and thresholds versions",
        permissions=["replan"],
    )
    def replan_onto_current_versions(self, request, queryset):
        """The one way a surgery planned long ago gets newer numbers (CLINICAL_RULES §4,
        "Numbers are pinned"). The pghistory middleware records the change with the user."""
        writable = access_of(request).writable
        pinned = queryset.select_related(
            "patient", "plan__protocol__clinic", "plan__thresholds__clinic"
        ).order_by("pk")
        before = {s.pk: s for s in pinned if s.clinic_id in writable}
        if read_only := len(pinned) - len(before):
            self.message_user(
                request,
                f"{read_only} surgery(ies) left as they were: you only read their clinic.",
                messages.WARNING,
            )
        if not before:
            return
        refresh_many(list(before), timezone.now(), onto_current=True)
        after = pinned.filter(pk__in=list(before)).in_bulk()
        for pk, old in before.items():
            if pk in after:
                said = f"{old.patient.reference}, {old}: {moves(old, after[pk])}"
                self.message_user(request, said)


def version(pinned: Protocol | Thresholds | None) -> str:
    if pinned is None:
        return "none"
    return f"v{pinned.version} ({pinned.clinic.slug if pinned.clinic_id else 'default'})"


def moves(old: Surgery, new: Surgery) -> str:
    """What a re-plan changed: "protocol v1 (default) -> v2 (paris), thresholds ..." """
    was, now = plan_of(old), plan_of(new)
    changes = [
        f"{name} {version(before)} -> {version(after)}"
        for name, before, after in [
            ("protocol", was.protocol, now.protocol),
            ("thresholds", was.thresholds, now.thresholds),
        ]
        if getattr(before, "pk", None) != getattr(after, "pk", None)
    ]
    return ", ".join(changes) or "already on the current versions"


class ClinicalEventAdmin(records.ClinicalEventAdmin):
    """A symptom, with its work-up's checkpoint."""

    inlines = [CheckpointInline]


for model, page in [
    (Clinic, ClinicAdmin),
    (Patient, PatientAdmin),
    (Surgery, SurgeryAdmin),
    (ClinicalEvent, ClinicalEventAdmin),
]:
    admin.site.unregister(model)
    admin.site.register(model, page)
