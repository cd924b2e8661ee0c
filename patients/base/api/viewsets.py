"""The base of every endpoint: tenant scoping, idempotent POSTs and ETags live here once."""

import hashlib
import json

from django.db import connection
from rest_framework import mixins, status, viewsets
from rest_framework.permissions import SAFE_METHODS
from rest_framework.response import Response

from patients.locks import lock_patients_of, patient_field
from patients.models import Patient

from . import idempotency, read_audit
from .scoping import readable_clinic_ids, writable_clinic_ids


class ClinicScopedViewSet(viewsets.GenericViewSet):
    """Only rows of the caller's clinics exist: another clinic's object is a 404.

    Models served through it carry a `clinic` foreign key. Each request runs in one
    transaction (ATOMIC_REQUESTS), so a failed request writes nothing. A POST with an
    `Idempotency-Key` is answered once and replayed for a retry.
    """

    _idempotency = None
    # Which field of an answer names the patient, for the audit of reads (None: not
    # patient data). Patients themselves say "id".
    audit_patient_field = "patient"

    def get_queryset(self):
        queryset = super().get_queryset().filter(clinic_id__in=readable_clinic_ids(self.request))
        if self.request.method not in SAFE_METHODS:
            # Writers take the row: concurrent PATCHes with If-Match see each other.
            queryset = queryset.select_for_update(of=("self",))
        return queryset

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)  # authenticated and allowed first
        self._idempotency = idempotency.begin(request)  # a duplicate waits here, holding nothing
        if request.method not in SAFE_METHODS:
            self.lock_patient(request)

    def lock_patient(self, request) -> None:
        """The patient this write is about is locked first (patients.locks), before the
        row it changes (`get_queryset`) and before anything is saved."""
        model = self.get_queryset().model
        field = patient_field(model)
        if field is None or field == "pk":  # a patient's own row lock comes first anyway
            return
        lookup = self.kwargs.get(self.lookup_url_kwarg or self.lookup_field)
        data = request.data if lookup is None else {}
        if lookup is not None and str(lookup).isdecimal():
            rows = model._base_manager.filter(pk=lookup)
        elif isinstance(data, dict) and str(data.get("patient", "")).isdecimal():
            rows = Patient.objects.filter(pk=data["patient"])
        else:
            return  # a bulk request locks its patients itself; a bad id is refused later
        lock_patients_of(rows.filter(clinic_id__in=writable_clinic_ids(request)))

    def handle_exception(self, exc):
        if isinstance(exc, idempotency.Replay):
            return exc.response()
        return super().handle_exception(exc)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        # A refused request (rolled back by the exception handler) keeps nothing: its key
        # row goes with the rollback, and the broken transaction takes no more queries.
        rolled_back = connection.in_atomic_block and connection.needs_rollback
        if self._idempotency is not None and response.status_code < 500 and not rolled_back:
            idempotency.finish(self._idempotency, response)
        if not rolled_back:
            read_audit.record(request, self, response)
        return response


def etag_of(data) -> str:
    digest = hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()
    return f'W/"{digest[:32]}"'


def _same_tag(a: str, b: str) -> bool:
    return a.strip().removeprefix("W/") == b.strip().removeprefix("W/")


class ReadWriteViewSet(
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    mixins.ListModelMixin,
    ClinicScopedViewSet,
):
    """List, create, read and PATCH (no PUT, no DELETE through the API).

    GET answers an ETag; a PATCH with a stale `If-Match` is a 412 and changes nothing.
    """

    http_method_names = ["get", "post", "patch", "head", "options"]

    def natural_match(self, data: dict, lookup=None):
        """The existing row this POST is about (an upsert by natural key), or None."""
        return None

    def create(self, request, *args, **kwargs):
        """Create, or update the row with the same natural key (200)."""
        existing = self.natural_match(request.data) if isinstance(request.data, dict) else None
        serializer = self.get_serializer(existing, data=request.data)
        serializer.is_valid(raise_exception=True)
        if existing is None:
            self.perform_create(serializer)
            return Response(serializer.data, status=status.HTTP_201_CREATED)
        self.perform_update(serializer)
        return Response(serializer.data, status=status.HTTP_200_OK)

    def retrieve(self, request, *args, **kwargs):
        response = super().retrieve(request, *args, **kwargs)
        response["ETag"] = etag_of(response.data)
        return response

    def partial_update(self, request, *args, **kwargs):
        if expected := request.headers.get("If-Match"):
            current = etag_of(self.get_serializer(self.get_object()).data)
            if expected.strip() != "*" and not any(
                _same_tag(tag, current) for tag in expected.split(",")
            ):
                return Response(
                    {"detail": "The resource changed since you read it (If-Match is stale)."},
                    status=status.HTTP_412_PRECONDITION_FAILED,
                    headers={"ETag": current},
                )
        response = super().partial_update(request, *args, **kwargs)
        if response.status_code == 200:
            response["ETag"] = etag_of(response.data)
        return response
