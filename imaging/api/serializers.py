"""The exams endpoint's shapes: an exam and its findings, validated against the vocabulary."""

from django.db import transaction
from rest_framework import serializers

from patients.api.serializers import LevelField, check_levels
from patients.base.api.fields import ClinicDateTimeField, WritablePatientField
from patients.base.api.serializers import PatientRecordSerializer

from ..models import Finding, ImagingExam, Side, View
from ..vocabulary import VOCABULARY


class FindingSerializer(serializers.ModelSerializer):
    value = serializers.JSONField(
        help_text="A number, a boolean or one of the code's values (CLINICAL_RULES §3)."
    )
    level = LevelField(required=False, allow_blank=True, default="")
    side = serializers.ChoiceField(
        choices=Side.choices, required=False, allow_blank=True, default=""
    )

    class Meta:
        model = Finding
        fields = ["code", "value", "level", "side"]
        validators = []  # duplicates are checked across the list by the exam

    def validate(self, attrs):
        # A PATCH is partial for the exam, never for one of its findings: DRF would
        # otherwise skip the required fields and the defaults of each item.
        if missing := [name for name in ("code", "value") if name not in attrs]:
            raise serializers.ValidationError(dict.fromkeys(missing, "This field is required."))
        attrs.setdefault("level", "")
        attrs.setdefault("side", "")
        try:
            attrs["value"] = VOCABULARY[attrs["code"]].clean(attrs["value"])
        except ValueError as error:
            raise serializers.ValidationError({"value": f"{attrs['code']} {error}."}) from None
        return attrs


class ExamSerializer(PatientRecordSerializer):
    noun = "exam"
    patient = WritablePatientField()
    performed_at = ClinicDateTimeField()
    views = serializers.ListField(
        child=serializers.ChoiceField(choices=View.choices), allow_empty=True, required=False
    )
    effective_dose_msv = serializers.DecimalField(
        max_digits=7, decimal_places=3, min_value=0, required=False, allow_null=True
    )
    # Required here although the model allows a blank one (followup/fhir's UID-only import).
    accession_number = serializers.CharField(max_length=64)
    findings = FindingSerializer(many=True, required=False)

    class Meta:
        model = ImagingExam
        fields = [
            "id",
            "patient",
            "surgery",
            "modality",
            "contrast",
            "performed_at",
            "views",
            "accession_number",
            "study_instance_uid",
            "effective_dose_msv",
            "report",
            "findings",
            "created_at",
            "updated_at",
        ]
        validators = []  # uniqueness per clinic is checked in validate()

    def validate(self, attrs):
        patient = self.validate_record(attrs)
        self._validate_unique(attrs, patient)
        findings = attrs.get("findings") or []
        levels = [f["level"] for f in findings]
        kinds = [VOCABULARY[f["code"]].level_kind for f in findings]
        if errors := check_levels(levels, kinds, patient.lumbar_vertebrae):
            raise serializers.ValidationError(
                {"findings": {index: {"level": [f"{findings[index]['code']}: {message}"
                                                for message in messages]}
                              for index, messages in errors.items()}}
            )  # fmt: skip
        sites = [(f["code"], f["level"], f["side"]) for f in findings]
        if len(set(sites)) != len(sites):
            raise serializers.ValidationError(
                {"findings": "The same code is given twice for the same level and side."}
            )
        return attrs

    def _validate_unique(self, attrs, patient) -> None:
        if (bulk := self.context.get("bulk")) is not None:
            return self._validate_unique_in(bulk.extra["taken"], attrs, patient)
        others = ImagingExam.objects.filter(clinic_id=patient.clinic_id)
        if self.instance is not None:
            others = others.exclude(pk=self.instance.pk)
        if (
            "accession_number" in attrs
            and others.filter(accession_number=attrs["accession_number"]).exists()
        ):
            raise serializers.ValidationError(
                {"accession_number": "This accession number belongs to another patient's exam."}
            )
        uid = attrs.get("study_instance_uid")
        if uid and others.filter(study_instance_uid=uid).exists():
            raise serializers.ValidationError(
                {"study_instance_uid": "This Study Instance UID belongs to another exam."}
            )

    def _validate_unique_in(self, taken: dict, attrs, patient) -> None:
        """The same checks, against what a bulk request read at once."""
        mine = self.instance.pk if self.instance is not None else None
        accession = taken.get(("acc", patient.clinic_id, attrs.get("accession_number")))
        if accession not in (None, mine):
            raise serializers.ValidationError(
                {"accession_number": "This accession number belongs to another patient's exam."}
            )
        uid = attrs.get("study_instance_uid")
        if uid and taken.get(("uid", patient.clinic_id, uid)) not in (None, mine):
            raise serializers.ValidationError(
                {"study_instance_uid": "This Study Instance UID belongs to another exam."}
            )

    @transaction.atomic
    def create(self, validated_data):
        findings = validated_data.pop("findings", [])
        exam = ImagingExam.objects.create(**validated_data)
        self._save_findings(exam, findings)
        return exam

    @transaction.atomic
    def update(self, instance, validated_data):
        findings = validated_data.pop("findings", None)
        exam = super().update(instance, validated_data)
        if findings is not None:
            exam.findings.all().delete()
            self._save_findings(exam, findings)
        return exam

    @staticmethod
    def _save_findings(exam: ImagingExam, findings: list[dict]) -> None:
        Finding.objects.bulk_create(Finding(exam=exam, **item) for item in findings)
        getattr(exam, "_prefetched_objects_cache", {}).pop("findings", None)
