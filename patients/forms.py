"""Admin forms for what the admin writes about levels: the same normalisation and the
same patient-aware checks as the REST API (patients/levels.py, CLINICAL_RULES §3)."""

from django import forms
from django.contrib.postgres.forms import SimpleArrayField
from django.core.exceptions import ValidationError

from .levels import LevelKind, check_level, normalise
from .models import Patient, Surgery


class LevelFormField(forms.CharField):
    """A level as people type it (`l4/l5`, `L4-5`), cleaned to its canonical form."""

    def to_python(self, value):
        value = super().to_python(value)
        return normalise(value) if value else value


class LevelsFormField(SimpleArrayField):
    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("help_text", "Comma-separated, e.g. L4-L5, L5-S1 (L6 only with "
                          "six lumbar vertebrae).")  # fmt: skip
        super().__init__(LevelFormField(), **kwargs)


def fits_patient(form: forms.Form, field: str, level: str, kind, patient) -> str:
    """The canonical level, or an error on `field` if it does not fit the patient."""
    try:
        return check_level(level, kind=kind, lumbar_vertebrae=patient.lumbar_vertebrae)
    except ValidationError as error:
        form.add_error(field, error)
        return level


def patient_of(form: forms.Form, name: str) -> Patient | None:
    """The patient a row is for: the chosen one, or (in an inline) the parent form's,
    with what that form posted (e.g. a new lumbar_vertebrae)."""
    related = form.cleaned_data.get(name)
    if isinstance(related, Patient):
        return related
    if related is not None and getattr(related, "patient_id", None):
        return related.patient
    return None


class PatientForm(forms.ModelForm):
    class Meta:
        model = Patient
        fields = "__all__"  # noqa: DJ007 - the admin's fieldsets choose the fields

    def clean_lumbar_vertebrae(self):
        count = self.cleaned_data["lumbar_vertebrae"]
        try:  # before the instance takes the new count: it compares with the stored one
            self.instance.check_lumbar_vertebrae(count)
        except ValidationError as error:
            raise ValidationError(error.message_dict["lumbar_vertebrae"]) from None
        return count


class SurgeryForm(forms.ModelForm):
    """A surgery's levels, normalised, L6 only for a patient with six lumbar vertebrae."""

    levels = LevelsFormField()

    class Meta:
        model = Surgery
        fields = "__all__"  # noqa: DJ007 - the admin and its inline choose the fields

    def clean(self):
        cleaned = super().clean()
        patient, levels = patient_of(self, "patient"), cleaned.get("levels")
        if patient is not None and levels:
            for level in levels:
                fits_patient(self, "levels", level, LevelKind.ANY, patient)
            if len(set(levels)) != len(levels):
                self.add_error("levels", "A level is listed twice.")
        return cleaned
