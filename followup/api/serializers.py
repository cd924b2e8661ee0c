"""The follow-up endpoints' shapes: checkpoints with their status and contrast decision,
alerts, subscriptions, webhooks, the timeline."""

from django.utils import timezone
from django.utils.functional import cached_property
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from patients.base.api.scoping import readable_clinic_ids
from patients.models import Clinic

from ..models import (
    Alert,
    AlertStatus,
    Checkpoint,
    CheckpointStatus,
    Subscription,
    WebhookEndpoint,
)


class ContrastDecisionSerializer(serializers.Serializer):
    gadolinium_cutoff = serializers.DateTimeField(allow_null=True)
    before_gadolinium_cutoff = serializers.BooleanField()
    herniation_similar_to_preop = serializers.BooleanField(allow_null=True)
    contrast_indicated = serializers.BooleanField()
    explanation = serializers.CharField()


class CheckpointSerializer(serializers.ModelSerializer):
    status = serializers.SerializerMethodField()
    contrast_decision = serializers.SerializerMethodField()

    class Meta:
        model = Checkpoint
        fields = [
            "id",
            "patient",
            "surgery",
            "code",
            "label",
            "kind",
            "opens_at",
            "due_at",
            "overdue_at",
            "status",
            "satisfied_by",
            "answered_by",
            "late",
            "modalities",
            "instruments",
            "required",
            "waived_at",
            "waived_reason",
            "event",
            "recommendation",
            "contrast_decision",
            "booked_at",
            "booked_order",
        ]
        read_only_fields = fields

    @extend_schema_field(ContrastDecisionSerializer(allow_null=True))
    def get_contrast_decision(self, checkpoint: Checkpoint):
        """Recurrent radicular pain after a discectomy: is contrast indicated? (Fig. 7)"""
        decision = self.context.get("decisions", {}).get(checkpoint.pk)
        return ContrastDecisionSerializer(decision).data if decision else None

    @extend_schema_field(serializers.ChoiceField(choices=CheckpointStatus.choices))
    def get_status(self, checkpoint: Checkpoint) -> str:
        # Derived from the clock: right even between two sweeps.
        now = self.context.setdefault("now", timezone.now())
        return checkpoint.status_at(now)


class WaiveSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000, help_text="Why this checkpoint is not needed.")


class AlertSerializer(serializers.ModelSerializer):
    status = serializers.SerializerMethodField()

    class Meta:
        model = Alert
        fields = [
            "id",
            "patient",
            "surgery",
            "exam",
            "checkpoint",
            "code",
            "subject",
            "severity",
            "status",
            "message",
            "created_at",
            "updated_at",
            "acknowledged_at",
            "snoozed_until",
            "resolved_at",
            "resolution_note",
            "auto_resolved",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.ChoiceField(choices=AlertStatus.choices))
    def get_status(self, alert: Alert) -> str:
        return alert.status_at(self.context.setdefault("now", timezone.now()))


class ResolveSerializer(serializers.Serializer):
    note = serializers.CharField(max_length=4000, help_text="Why the alert is closed.")


class SnoozeSerializer(serializers.Serializer):
    until = serializers.DateTimeField(help_text="ISO 8601 with an offset; must be in the future.")

    def validate_until(self, value):
        if value <= timezone.now():
            raise serializers.ValidationError("Must be in the future.")
        return value


class ReadableClinicField(serializers.SlugRelatedField):
    """A clinic the caller works for; another clinic's slug 'does not exist' either, word
    for word (a message of its own would tell that the slug exists)."""

    def get_queryset(self):
        return super().get_queryset().filter(pk__in=readable_clinic_ids(self.context["request"]))


class SubscriptionSerializer(serializers.ModelSerializer):
    clinic = ReadableClinicField(slug_field="slug", queryset=Clinic.objects.all())

    class Meta:
        model = Subscription
        fields = ["id", "clinic", "digest", "urgent"]
        validators = []

    def validate_clinic(self, clinic):
        if self.instance is not None and clinic != self.instance.clinic:
            raise serializers.ValidationError("A subscription cannot move to another clinic.")
        return clinic

    def validate(self, attrs):
        user = self.context["request"].user
        clinic = attrs.get("clinic")
        if self.instance is None and Subscription.objects.filter(user=user, clinic=clinic).exists():
            raise serializers.ValidationError({"clinic": "You already have settings here."})
        return attrs


class WebhookEndpointSerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookEndpoint
        fields = ["id", "url", "active", "created_at", "last_event_id", "failing_since"]
        read_only_fields = ["created_at", "last_event_id", "failing_since"]
        # `url` is checked by the model field's validator (followup.outbound.validate_url):
        # https, and no loopback, private or special address, on every address the name
        # has; the same check as the admin's form. Each delivery checks again.


class NewWebhookEndpointSerializer(WebhookEndpointSerializer):
    """The answer to a registration: the signing secret, shown this once."""

    class Meta(WebhookEndpointSerializer.Meta):
        fields = [*WebhookEndpointSerializer.Meta.fields, "secret"]
        read_only_fields = [*WebhookEndpointSerializer.Meta.read_only_fields, "secret"]


class TimelineEntrySerializer(serializers.Serializer):
    type = serializers.ChoiceField(
        choices=["surgery", "checkpoint", "milestone", "workup", "prom", "exam", "event",
                 "assessment", "alert"]
    )  # fmt: skip
    at = serializers.DateTimeField()
    id = serializers.IntegerField()
    url = serializers.CharField(help_text="The entry's own resource.")
    surgery = serializers.IntegerField(allow_null=True)
    data = serializers.DictField(help_text="What the entry says, by type.")

    @cached_property
    def _zone(self):
        return self.fields["at"].default_timezone()

    def to_representation(self, entry):
        # The same answer as the fields give, without their generic machinery: a timeline
        # has hundreds of entries, and that machinery was a third of its time. `at` is
        # DateTimeField's ISO 8601 (UTC as "Z"), its time zone looked up once per list.
        at = entry.at.astimezone(self._zone).isoformat()
        return {
            "type": entry.type,
            "at": at[:-6] + "Z" if at.endswith("+00:00") else at,
            "id": entry.id,
            "url": entry.url,
            "surgery": entry.surgery,
            "data": entry.data,
        }


class DoseSummarySerializer(serializers.Serializer):
    window_days = serializers.IntegerField()
    total_msv = serializers.DecimalField(max_digits=9, decimal_places=3, coerce_to_string=True)
    threshold_msv = serializers.DecimalField(max_digits=9, decimal_places=2, coerce_to_string=True)
    above_threshold = serializers.BooleanField()


class TimelineSerializer(serializers.Serializer):
    patient = serializers.IntegerField()
    mrn = serializers.CharField()
    transitional_variant = serializers.CharField(
        help_text="Shown on top: level errors come from numbering the last vertebrae differently."
    )
    lumbar_vertebrae = serializers.IntegerField(
        help_text="5, or 6 for a lumbarisation: the only case where L6 is a level."
    )
    vertebral_numbering = serializers.CharField()
    dose = DoseSummarySerializer(
        help_text="Effective dose (mSv) over the dose window ending now, against the clinic's "
        "cumulative_dose threshold; each exam entry has its own dose and the window's total "
        "at its time."
    )
    entries = TimelineEntrySerializer(many=True)
