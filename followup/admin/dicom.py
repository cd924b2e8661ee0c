"""The DICOM feed in the admin: its sources (managers map AE titles to their clinic), the
dose reports and the coefficients that turned them into mSv, the studies dropped, and
the PACS reconciliation runs."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError

from followup.feeds.dicom.sources import InvalidAeTitle, clean_ae_title
from followup.feeds.dicom.storing import complete_doses
from followup.models import DicomSource, DoseCoefficient, DoseReport, DroppedStudy, PacsSyncRun
from patients.access import access_of
from patients.base.admin.keys import ManagersHoldTheKeys
from patients.base.admin.scoping import ClinicFilter, ClinicScopedAdmin

from .protocols import VersionedAdmin


class DicomSourceForm(forms.ModelForm):
    class Meta:
        model = DicomSource
        fields = ["clinic", "ae_title", "name"]

    def clean_ae_title(self) -> str:
        try:
            return clean_ae_title(self.cleaned_data["ae_title"])
        except InvalidAeTitle as error:
            raise ValidationError(str(error)) from None


@admin.register(DicomSource)
class DicomSourceAdmin(ManagersHoldTheKeys, ClinicScopedAdmin):
    """Staff of the clinic see its sources and what they sent; its managers add, change
    and remove them: a new AE title sends studies into the clinic's records."""

    form = DicomSourceForm
    list_display = ["ae_title", "name", "clinic", "last_seen_at", "instances_received",
                    "instances_refused", "created_at"]  # fmt: skip
    list_select_related = ["clinic"]
    list_filter = [ClinicFilter]
    readonly_fields = ["last_seen_at", "instances_received", "instances_refused",
                       "last_refusal", "created_at"]  # fmt: skip


@admin.register(DoseCoefficient)
class DoseCoefficientAdmin(VersionedAdmin):
    """Effective dose per DLP or DAP, per body region, each with its published source; a
    save is a new version. A dose already recorded keeps the coefficient it was computed
    with."""

    applies = (
        "dose reports received from now on are converted with it; doses already recorded "
        "keep the coefficient they were computed with."
    )
    list_display = ["kind", "region", "value", "source", "clinic", "version", "created_at"]
    list_filter = ["kind", "region", "clinic"]
    fields = ["kind", "region", "clinic", "value", "source", "notes", "version", "created_at",
              "created_by"]  # fmt: skip


@admin.register(DoseReport)
class DoseReportAdmin(ClinicScopedAdmin):
    """Read only: what each Radiation Dose SR said and how it became mSv. A report kept
    without a dose (no coefficient then) is computed by its clinic's managers once a
    coefficient exists."""

    actions = ["complete_missing_doses"]

    def has_manage_permission(self, request) -> bool:
        return bool(access_of(request).managed)

    @admin.action(description="Compute the missing doses with the coefficients in force",
                  permissions=["manage"])  # fmt: skip
    def complete_missing_doses(self, request, queryset):
        managed = queryset.filter(clinic__in=access_of(request).managed)
        done = complete_doses(managed, f"user {request.user.username}")
        self.message_user(request, f"{done} dose(s) computed; doses already computed are kept.",
                          messages.INFO)  # fmt: skip

    list_display = ["received_at", "exam", "kind", "accumulated", "region", "coefficient_value",
                    "effective_dose_msv", "source"]  # fmt: skip
    list_select_related = ["exam", "source", "coefficient"]
    list_filter = ["kind", "region", ClinicFilter]
    readonly_fields = ["clinic", "exam", "sop_instance_uid", "kind", "accumulated", "from_events",
                       "region", "coefficient", "coefficient_value", "effective_dose_msv",
                       "source", "received_at"]  # fmt: skip

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(DroppedStudy)
class DroppedStudyAdmin(ClinicScopedAdmin):
    """Studies of patients the clinic does not follow: counted, nothing else kept."""

    clinic_lookup = "source__clinic"
    list_display = ["source", "study_instance_uid", "instances", "first_at", "last_at"]
    list_select_related = ["source"]
    readonly_fields = ["source", "study_instance_uid", "instances", "first_at", "last_at"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(PacsSyncRun)
class PacsSyncRunAdmin(admin.ModelAdmin):
    """Each reconciliation with the PACS: counts only, for managers and superusers."""

    list_display = ["started_at", "finished_at", "status", "since", "patients", "studies_found",
                    "studies_known", "studies_recorded", "studies_refused"]  # fmt: skip
    list_filter = ["status"]
    readonly_fields = [field.name for field in PacsSyncRun._meta.fields]

    def has_module_permission(self, request) -> bool:
        return request.user.is_superuser or bool(access_of(request).managed)

    def has_view_permission(self, request, obj=None) -> bool:
        return self.has_module_permission(request)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
