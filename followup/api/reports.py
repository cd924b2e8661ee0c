"""`GET /api/v1/reports/outcomes/`: the clinic's outcomes report as JSON (docs/outcomes.md),
the same figures as the admin's page, its PDF and its CSV."""

from django.http import Http404
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from patients.base.api.scoping import readable_clinic_ids
from patients.base.api.viewsets import ClinicScopedViewSet
from patients.base.middleware import route_of
from patients.models import ApiClient, Clinic, Procedure, RecordRead

from ..reports import outcomes, selection


class OutcomesQuerySerializer(serializers.Serializer):
    """The report's filters, validated (the admin's page takes the same)."""

    clinic = serializers.IntegerField(
        required=False, min_value=1,
        help_text="Needed only by staff of several clinics; an integration has its one.",
    )  # fmt: skip
    surgeon = serializers.CharField(required=False, max_length=200)
    procedure = serializers.ChoiceField(required=False, choices=Procedure.choices)
    levels = serializers.IntegerField(required=False, min_value=1, max_value=12)
    performed_from = serializers.DateField(required=False)
    performed_to = serializers.DateField(required=False)
    time_point = serializers.SlugField(required=False, max_length=40)
    group_by = serializers.ChoiceField(required=False, choices=list(selection.GROUP_BY))
    min_group = serializers.IntegerField(
        required=False, min_value=1, max_value=10_000,
        help_text="Raises the clinic's minimum group size; never lowers it.",
    )  # fmt: skip

    def filters(self) -> selection.Filters:
        data = {k: v for k, v in self.validated_data.items() if k != "clinic"}
        return selection.Filters(**data)


class FigureSerializer(serializers.Serializer):
    value = serializers.FloatField(allow_null=True)
    low = serializers.FloatField(allow_null=True, help_text="95% interval, lower bound")
    high = serializers.FloatField(allow_null=True, help_text="95% interval, upper bound")


class RowSerializer(serializers.Serializer):
    scope = serializers.ChoiceField(choices=["all", "group", "procedure_levels"])
    group = serializers.CharField(help_text="Empty for the whole selection.")
    suppressed = serializers.BooleanField(
        help_text="Smaller than the minimum group size: only its size is shown."
    )


class GroupSerializer(RowSerializer):
    surgeries = serializers.IntegerField()
    patients = serializers.IntegerField()


class CaptureSerializer(RowSerializer):
    kind = serializers.CharField()
    code = serializers.CharField()
    label = serializers.CharField()
    day = serializers.IntegerField(help_text="The day its window opens, after surgery.")
    judged = serializers.IntegerField(help_text="on time + late + missed")
    on_time = serializers.IntegerField(allow_null=True)
    late = serializers.IntegerField(allow_null=True)
    missed = serializers.IntegerField(allow_null=True)
    not_applicable = serializers.IntegerField(allow_null=True)
    pending = serializers.IntegerField(allow_null=True)
    capture_rate = FigureSerializer()
    on_time_rate = FigureSerializer()


class PromSerializer(RowSerializer):
    time_point = serializers.CharField()
    measure = serializers.ChoiceField(choices=list(selection.MEASURES))
    n = serializers.IntegerField()
    mcid = serializers.FloatField()
    baseline_mean = serializers.FloatField(allow_null=True)
    follow_up_mean = serializers.FloatField(allow_null=True)
    mean_improvement = FigureSerializer(help_text="Baseline minus follow-up; t interval.")
    sd = serializers.FloatField(allow_null=True)
    median_improvement = FigureSerializer(help_text="Order-statistic interval.")
    responders = serializers.IntegerField(allow_null=True)
    responder_rate = FigureSerializer(help_text="Improved by the MCID or more; Wilson.")


class FusionSerializer(RowSerializer):
    fusions = serializers.IntegerField()
    assessed = serializers.IntegerField()
    complete_bridging = serializers.IntegerField(allow_null=True)
    complete_bridging_rate = FigureSerializer()
    followed_a_year = serializers.IntegerField()
    pseudarthrosis_suspected = serializers.IntegerField(allow_null=True)
    pseudarthrosis_rate = FigureSerializer()


class ComplicationSerializer(serializers.Serializer):
    code = serializers.ChoiceField(choices=list(selection.COMPLICATIONS))
    label = serializers.CharField()
    surgeries = serializers.IntegerField(allow_null=True)
    per_100 = FigureSerializer(help_text="Per 100 surgeries; Wilson interval.")


class ComplicationsSerializer(RowSerializer):
    surgeries = serializers.IntegerField()
    complications = ComplicationSerializer(many=True)


class AcknowledgementSerializer(RowSerializer):
    severity = serializers.CharField(help_text="Empty: all severities.")
    alerts = serializers.IntegerField()
    acknowledged = serializers.IntegerField(allow_null=True)
    median_hours = serializers.FloatField(allow_null=True)
    p90_hours = serializers.FloatField(allow_null=True)
    mean_hours = serializers.FloatField(allow_null=True)


class OverdueSerializer(RowSerializer):
    code = serializers.CharField(help_text="Empty: all checkpoints.")
    overdue = serializers.IntegerField()
    still_missing = serializers.IntegerField(allow_null=True)
    median_days = serializers.FloatField(allow_null=True)
    p90_days = serializers.FloatField(allow_null=True)
    mean_days = serializers.FloatField(allow_null=True)


class OutcomesReportSerializer(serializers.Serializer):
    clinic = serializers.DictField()
    as_of = serializers.DateTimeField()
    filters = serializers.DictField()
    standards = serializers.DictField(
        help_text="The versioned numbers used: MCIDs with their source, time points, minimum."
    )
    groups = GroupSerializer(many=True)
    capture = CaptureSerializer(many=True)
    proms = PromSerializer(many=True)
    fusion = FusionSerializer(many=True)
    complications = ComplicationsSerializer(many=True)
    acknowledgement = AcknowledgementSerializer(many=True)
    overdue = OverdueSerializer(many=True)


def chosen_clinic(request, clinic_id: int | None, readable) -> Clinic:
    """The clinic asked for among the caller's; another clinic's report does not exist."""
    if clinic_id is None:
        if len(readable) != 1:
            raise serializers.ValidationError({"clinic": "Say which of your clinics."})
        clinic_id = next(iter(readable))
    clinic = Clinic.objects.filter(pk=clinic_id, pk__in=readable).first()
    if clinic is None:
        raise Http404
    return clinic


def audit_report_read(request, clinic: Clinic) -> None:
    """A report was read (this one, or FHIR's MeasureReport of its capture rates): by the
    integration or the staff member, with no patient in it (it shows no one's record)."""
    client = request.auth if isinstance(request.auth, ApiClient) else None
    RecordRead.objects.create(
        clinic=clinic, user=None if client else request.user, client=client,
        endpoint=route_of(request), patient_ids=[], at=timezone.now(),
    )  # fmt: skip


class OutcomesReportViewSet(ClinicScopedViewSet):
    """The figures of one clinic, over the surgeries the filters choose."""

    queryset = Clinic.objects.all()
    audit_patient_field = None  # audited below: a report shows no one's record
    http_method_names = ["get", "head", "options"]
    filter_backends = []
    pagination_class = None

    def get_queryset(self):
        return Clinic.objects.filter(pk__in=readable_clinic_ids(self.request))

    # One report, not a list of them (the schema says an object).
    @extend_schema(parameters=[OutcomesQuerySerializer], responses=OutcomesReportSerializer)
    def report(self, request):
        query = OutcomesQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        readable = readable_clinic_ids(request)
        clinic = chosen_clinic(request, query.validated_data.get("clinic"), readable)
        data = outcomes.run(clinic, query.filters(), timezone.now())
        audit_report_read(request, clinic)
        return Response(data)
