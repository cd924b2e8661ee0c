"""The exams' admin: exams with their findings, validated against the vocabulary; and the
exams' inline that a patient's page shows (followup/admin/records.py puts it there)."""

from django import forms
from django.contrib import admin

from patients.base.admin.scoping import ClinicFilter, ClinicScopedAdmin, ClinicScopedMixin
from patients.base.audit import render_trail
from patients.forms import LevelFormField, fits_patient, patient_of

from .models import Finding, ImagingExam
from .vocabulary import VOCABULARY


class FindingForm(forms.ModelForm):
    """The value typed as text (`2.5`, `yes`, `partial`) and read by the vocabulary; the
    level as typed (`l4/5`), kept canonical and checked against the code and the patient."""

    value = forms.CharField(help_text="A number, yes/no, or one of the code's values.")
    level = LevelFormField(
        required=False, max_length=16, help_text="A joint (L4-L5) or a vertebra (L5)."
    )

    class Meta:
        model = Finding
        fields = ["code", "value", "level", "side"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            value = self.instance.value
            self.initial["value"] = ("yes" if value else "no") if isinstance(value, bool) else value

    def clean(self):
        cleaned = super().clean()
        code, text = cleaned.get("code"), cleaned.get("value")
        if code in VOCABULARY and text is not None:
            try:
                cleaned["value"] = VOCABULARY[code].from_text(str(text))
            except ValueError as error:
                self.add_error("value", f"{code} {error}.")
        patient, level = patient_of(self, "exam"), cleaned.get("level")
        if code in VOCABULARY and level and patient is not None:
            cleaned["level"] = fits_patient(
                self, "level", level, VOCABULARY[code].level_kind, patient
            )
        return cleaned


class FindingInline(ClinicScopedMixin, admin.TabularInline):
    model = Finding
    form = FindingForm
    clinic_lookup = "exam__clinic"
    extra = 1


@admin.register(ImagingExam)
class ImagingExamAdmin(ClinicScopedAdmin):
    list_display = [
        "accession_number",
        "patient",
        "modality",
        "contrast",
        "performed_at",
        "surgery",
    ]
    list_select_related = ["patient", "surgery"]
    list_filter = ["modality", "contrast", ClinicFilter]
    search_fields = ["=accession_number", "=study_instance_uid", "=patient__mrn"]
    autocomplete_fields = ["patient", "surgery"]
    readonly_fields = ["created_at", "updated_at", "audit_trail"]
    inlines = [FindingInline]

    @admin.display(description="Audit trail")
    def audit_trail(self, obj: ImagingExam) -> str:
        return render_trail(obj) if obj.pk else ""


class ExamInline(ClinicScopedMixin, admin.TabularInline):
    """A patient's exams, read-only: exams are added on their own page, with their findings."""

    model = ImagingExam
    fields = ["performed_at", "modality", "contrast", "accession_number", "effective_dose_msv",
              "surgery"]  # fmt: skip
    readonly_fields = fields
    extra = 0
    show_change_link = True
    can_delete = False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("surgery")  # shown on each row

    def has_add_permission(self, request, obj=None) -> bool:
        return False  # exams are added on their own page, with their findings
