"""The patients' endpoints' shapes: patients and identifiers, surgeries and their levels,
clinical events, assessments."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from patients.base.api.fields import (
    ClinicDateTimeField,
    WritablePatientField,
    in_clinic_zone,
    not_in_future,
)
from patients.base.api.scoping import writable_clinic_ids
from patients.base.api.serializers import PatientRecordSerializer
from patients.base.audit import actor_of_request

from ..levels import LevelKind, check_level, normalise
from ..models import (
    Assessment,
    Clinic,
    ClinicalEvent,
    Hardware,
    LumbarVertebrae,
    Patient,
    PatientIdentifier,
    Surgery,
)


class ExternalIdSerializer(serializers.ModelSerializer):
    class Meta:
        model = PatientIdentifier
        fields = ["system", "value"]
        # Uniqueness per clinic is checked by PatientSerializer, which knows the clinic.
        validators = []

    def validate(self, attrs):
        # A PATCH is partial for the patient, never for one identifier: DRF would
        # otherwise skip the required fields of each item.
        if missing := [name for name in ("system", "value") if name not in attrs]:
            raise serializers.ValidationError(dict.fromkeys(missing, "This field is required."))
        return attrs


class WritableClinicField(serializers.SlugRelatedField):
    """A clinic the caller may write to; another clinic's slug 'does not exist' either."""

    def get_queryset(self):
        return super().get_queryset().filter(pk__in=writable_clinic_ids(self.context["request"]))


class PatientSerializer(serializers.ModelSerializer):
    clinic = WritableClinicField(
        slug_field="slug",
        queryset=Clinic.objects.all(),
        required=False,
        help_text="The clinic's slug. Needed only by staff who work for several clinics.",
    )
    external_ids = ExternalIdSerializer(many=True, required=False)
    lumbar_vertebrae = serializers.ChoiceField(
        choices=LumbarVertebrae.choices,
        required=False,
        help_text="5, or 6 for a lumbarisation: only then is L6 a level (CLINICAL_RULES §3).",
        error_messages={"invalid_choice": "Must be 5 or 6 (6 for a lumbarisation), not {input}."},
    )

    class Meta:
        model = Patient
        fields = [
            "id",
            "clinic",
            "mrn",
            "family_name",
            "given_name",
            "birth_date",
            "sex",
            "transitional_variant",
            "vertebral_numbering",
            "lumbar_vertebrae",
            "external_ids",
            "followup_status",
            "followup_status_reason",
            "followup_status_set_at",
            "followup_status_set_by",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["followup_status_set_at", "followup_status_set_by"]
        # (clinic, mrn) is checked in validate(): the clinic may come from the token.
        validators = []

    def validate_birth_date(self, value):
        if value is not None:
            not_in_future(value)
        return value

    def _clinic(self, attrs) -> Clinic:
        if self.instance is not None:
            if "clinic" in attrs and attrs["clinic"] != self.instance.clinic:
                raise serializers.ValidationError({"clinic": "A patient cannot change clinic."})
            return self.instance.clinic
        if "clinic" in attrs:
            return attrs["clinic"]
        writable = writable_clinic_ids(self.context["request"])
        if len(writable) != 1:
            raise serializers.ValidationError(
                {"clinic": "Required: you work for several clinics, say which one."}
            )
        return Clinic.objects.get(pk=next(iter(writable)))

    def validate(self, attrs):
        clinic = attrs["clinic"] = self._clinic(attrs)
        if self.instance is not None and "lumbar_vertebrae" in attrs:
            try:  # no level naming L6 may be left on a patient without one
                self.instance.check_lumbar_vertebrae(attrs["lumbar_vertebrae"])
            except DjangoValidationError as error:
                raise serializers.ValidationError(error.message_dict) from None
        others = Patient.objects.filter(clinic=clinic)
        if self.instance is not None:
            others = others.exclude(pk=self.instance.pk)
        if "mrn" in attrs and others.filter(mrn=attrs["mrn"]).exists():
            raise serializers.ValidationError(
                {"mrn": "A patient with this MRN already exists in this clinic."}
            )
        identifiers = attrs.get("external_ids") or []
        pairs = [(item["system"], item["value"]) for item in identifiers]
        if len(set(pairs)) != len(pairs):
            raise serializers.ValidationError(
                {"external_ids": "The same identifier is listed twice."}
            )
        taken = PatientIdentifier.objects.filter(clinic=clinic, patient__in=others)
        for index, (system, value) in enumerate(pairs):
            if taken.filter(system=system, value=value).exists():
                raise serializers.ValidationError(
                    {"external_ids": {index: f"{system}|{value} belongs to another patient."}}
                )
        return attrs

    def _note_status(self, patient: Patient) -> None:
        patient.note_followup_status(actor_of_request(self.context.get("request")), timezone.now())

    @transaction.atomic
    def create(self, validated_data):
        identifiers = validated_data.pop("external_ids", [])
        patient = Patient(**validated_data)
        self._note_status(patient)
        patient.save()
        self._save_identifiers(patient, identifiers)
        return patient

    @transaction.atomic
    def update(self, instance, validated_data):
        identifiers = validated_data.pop("external_ids", None)
        for name, value in validated_data.items():
            setattr(instance, name, value)
        self._note_status(instance)
        patient = super().update(instance, {})
        if identifiers is not None:
            patient.external_ids.all().delete()
            self._save_identifiers(patient, identifiers)
        return patient

    @staticmethod
    def _save_identifiers(patient: Patient, identifiers: list[dict]) -> None:
        PatientIdentifier.objects.bulk_create(
            PatientIdentifier(patient=patient, clinic_id=patient.clinic_id, **item)
            for item in identifiers
        )
        # The prefetched list, if any, no longer tells the truth.
        getattr(patient, "_prefetched_objects_cache", {}).pop("external_ids", None)


class LevelField(serializers.CharField):
    """A spinal level as people write it (`l4/l5`, `L4-5`), kept in canonical form
    (`L4-L5`). Whether it fits the patient is checked by the record's serializer."""

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        try:
            return normalise(value)
        except DjangoValidationError as error:
            raise serializers.ValidationError(error.messages) from None


def check_levels(levels: list[str], kinds: list[str], lumbar_vertebrae: int) -> dict:
    """Errors by index for the levels that do not fit their kind or the patient."""
    errors = {}
    for index, (level, kind) in enumerate(zip(levels, kinds, strict=True)):
        if level:
            try:
                check_level(level, kind=kind, lumbar_vertebrae=lumbar_vertebrae)
            except DjangoValidationError as error:
                errors[index] = error.messages
    return errors


class SurgerySerializer(serializers.ModelSerializer):
    patient = WritablePatientField()
    performed_at = ClinicDateTimeField(
        help_text="ISO 8601 with an offset, or a date alone (that day in the clinic's zone)."
    )
    levels = serializers.ListField(child=LevelField(), allow_empty=True, required=False)
    hardware = serializers.ListField(
        child=serializers.ChoiceField(choices=Hardware.choices), allow_empty=True, required=False
    )

    class Meta:
        model = Surgery
        fields = [
            "id",
            "patient",
            "performed_at",
            "procedure",
            "levels",
            "hardware",
            "approach",
            "surgeon",
            "notes",
            "created_at",
            "updated_at",
        ]

    def validate(self, attrs):
        patient = attrs.get("patient", getattr(self.instance, "patient", None))
        if self.instance is not None and patient != self.instance.patient:
            raise serializers.ValidationError(
                {"patient": "A surgery cannot move to another patient."}
            )
        if "performed_at" in attrs:
            attrs["performed_at"] = in_clinic_zone(attrs["performed_at"], patient)
            try:
                not_in_future(attrs["performed_at"])
            except serializers.ValidationError as error:
                raise serializers.ValidationError({"performed_at": error.detail}) from None
            if self.instance is not None:
                first_exam = self.instance.exams.order_by("performed_at").first()
                if first_exam and first_exam.performed_at < attrs["performed_at"]:
                    raise serializers.ValidationError(
                        {"performed_at": "This surgery has an exam from before that time "
                         f"(accession {first_exam.accession_number})."}
                    )  # fmt: skip
        if "levels" in attrs:
            kinds = [LevelKind.ANY] * len(attrs["levels"])
            if errors := check_levels(attrs["levels"], kinds, patient.lumbar_vertebrae):
                raise serializers.ValidationError({"levels": errors})
        for name in ("levels", "hardware"):
            if name in attrs and len(set(attrs[name])) != len(attrs[name]):
                raise serializers.ValidationError({name: "An item is listed twice."})
        return attrs


class WorkupSummarySerializer(serializers.Serializer):
    """The work-up a clinical event calls for (a checkpoint of kind `workup`)."""

    id = serializers.IntegerField()
    code = serializers.CharField()
    label = serializers.CharField()
    opens_at = serializers.DateTimeField()
    due_at = serializers.DateTimeField()
    modalities = serializers.ListField(child=serializers.CharField())
    recommendation = serializers.CharField()
    satisfied_by = serializers.IntegerField(source="satisfied_by_id", allow_null=True)


class ClinicalEventSerializer(PatientRecordSerializer):
    time_field = "occurred_at"
    noun = "event"
    patient = WritablePatientField()
    occurred_at = ClinicDateTimeField(
        help_text="ISO 8601 with an offset, or a date alone (that day in the clinic's zone)."
    )
    workup = serializers.SerializerMethodField()

    class Meta:
        model = ClinicalEvent
        fields = [
            "id",
            "patient",
            "surgery",
            "code",
            "occurred_at",
            "notes",
            "source",
            "relief_assessment",
            "recurrence_assessment",
            "workup",
            "created_at",
        ]
        read_only_fields = ["source", "relief_assessment", "recurrence_assessment"]

    def validate(self, attrs):
        self.validate_record(attrs)
        if attrs.get("surgery", getattr(self.instance, "surgery", None)) is None:
            raise serializers.ValidationError(
                {"surgery": "The patient has no surgery before this time to follow up."}
            )
        return attrs

    @extend_schema_field(WorkupSummarySerializer(allow_null=True))
    def get_workup(self, event: ClinicalEvent):
        workups = list(event.workups.all())
        return WorkupSummarySerializer(workups[0]).data if workups else None


class AssessmentSerializer(PatientRecordSerializer):
    time_field = "assessed_at"
    noun = "assessment"
    patient = WritablePatientField()
    assessed_at = ClinicDateTimeField()
    nrs_back = serializers.IntegerField(min_value=0, max_value=10, required=False, allow_null=True)
    nrs_leg = serializers.IntegerField(min_value=0, max_value=10, required=False, allow_null=True)
    odi = serializers.IntegerField(min_value=0, max_value=100, required=False, allow_null=True)

    class Meta:
        model = Assessment
        fields = ["id", "patient", "surgery", "assessed_at", "nrs_back", "nrs_leg", "odi",
                  "created_at"]  # fmt: skip

    def validate(self, attrs):
        self.validate_record(attrs)
        scores = ("nrs_back", "nrs_leg", "odi")
        if all(attrs.get(s, getattr(self.instance, s, None)) is None for s in scores):
            raise serializers.ValidationError(
                {"nrs_back": "Give at least one score: nrs_back, nrs_leg or odi."}
            )
        return attrs
