"""The base of serializers for what happens to a patient at a time: exams, clinical
events, assessments. Each belongs to one of the patient's surgeries; when the caller
leaves the surgery out, it is the patient's latest surgery before that time. A date
alone means the whole day: a film dated the surgery day belongs to that surgery."""

from rest_framework import serializers

from patients.models import Patient, Surgery

from .fields import WritableSurgeryField, in_clinic_zone, latest_instant, not_in_future


class PatientRecordSerializer(serializers.ModelSerializer):
    time_field = "performed_at"
    noun = "record"
    surgery = WritableSurgeryField(
        required=False,
        allow_null=True,
        help_text="Left out: the patient's latest surgery before this time.",
    )

    def validate_record(self, attrs) -> Patient:
        """Patient, time and surgery, checked together; returns the patient."""
        patient = attrs.get("patient", getattr(self.instance, "patient", None))
        if self.instance is not None and patient != self.instance.patient:
            raise serializers.ValidationError(
                {"patient": f"A {self.noun} cannot move to another patient."}
            )
        name = self.time_field
        if name in attrs:
            attrs[name] = in_clinic_zone(attrs[name], patient)
            try:
                not_in_future(attrs[name])
            except serializers.ValidationError as error:
                raise serializers.ValidationError({name: error.detail}) from None
        when = attrs.get(name, getattr(self.instance, name, None))
        self._validate_surgery(attrs, patient, latest_instant(when, patient.clinic.zone))
        return patient

    def _validate_surgery(self, attrs, patient: Patient, when) -> None:
        """`when`: the latest instant the record's time stands for (`latest_instant`)."""
        if "surgery" not in attrs:
            if not self.partial:
                bulk = self.context.get("bulk")
                attrs["surgery"] = (
                    bulk.latest_surgery(patient, when)
                    if bulk is not None
                    else Surgery.objects.latest_before(patient, when)
                )
                return
            # A PATCH keeps the surgery: a new time must still come after it.
            surgery = self.instance.surgery
            if surgery is not None and when < surgery.performed_at:
                raise serializers.ValidationError(
                    {self.time_field: f"The {self.noun} would be before its surgery."}
                )
            return
        surgery = attrs["surgery"]
        if surgery is None:
            return
        if surgery.patient_id != patient.pk:
            raise serializers.ValidationError({"surgery": "This surgery is not this patient's."})
        if when < surgery.performed_at:
            raise serializers.ValidationError(
                {"surgery": f"The {self.noun} is from before this surgery."}
            )
