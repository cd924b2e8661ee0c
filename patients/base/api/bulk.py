"""Bulk ingest: `POST .../bulk/` with up to 1,000 records.

Each record is validated by the endpoint's own serializer (the same rules as one
POST), against a `BulkLookup` read once for the whole request instead of a few
queries per record. Valid records are saved, invalid ones reported by index; the
endpoint may save its valid records in bulk (`bulk_save`).
"""

from bisect import bisect_right
from collections import defaultdict
from dataclasses import dataclass, field

from django.db import IntegrityError, transaction
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from patients.locks import lock_patients, patient_id_of
from patients.models import Patient, Surgery

from .scoping import writable_clinic_ids

MAX_RECORDS = 1000


def _ids(records: list, name: str) -> set[int]:
    # isdecimal(), not isdigit(): "²" is a digit that int() refuses.
    ids = (str(r.get(name, "")) for r in records if isinstance(r, dict))
    return {int(value) for value in ids if value.isdecimal()}


@dataclass
class BulkLookup:
    """The rows a bulk request's records refer to, read in a fixed number of queries."""

    patients: dict[int, Patient] = field(default_factory=dict)
    surgeries: dict[int, Surgery] = field(default_factory=dict)
    _times: dict[int, list] = field(default_factory=dict)
    _by_patient: dict[int, list[Surgery]] = field(default_factory=dict)
    extra: dict = field(default_factory=dict)  # what an endpoint adds (e.g. exams by accession)

    @classmethod
    def read(cls, request, records: list) -> "BulkLookup":
        clinics = writable_clinic_ids(request)
        patients = Patient.objects.select_related("clinic").filter(clinic_id__in=clinics)
        lookup = cls(patients=patients.in_bulk(_ids(records, "patient")))
        surgeries = Surgery.objects.filter(
            clinic_id__in=clinics, patient_id__in=lookup.patients
        ).order_by("performed_at", "pk")
        by_patient = defaultdict(list)
        for surgery in surgeries:
            lookup.surgeries[surgery.pk] = surgery
            by_patient[surgery.patient_id].append(surgery)
        lookup._by_patient = dict(by_patient)
        lookup._times = {p: [s.performed_at for s in rows] for p, rows in by_patient.items()}
        return lookup

    @classmethod
    def of_patient(cls, patient: Patient) -> "BulkLookup":
        """One patient already read (with its clinic) and its surgeries: what a feed's
        message refers to, in one query."""
        lookup = cls(patients={patient.pk: patient})
        rows = list(Surgery.objects.filter(patient=patient).order_by("performed_at", "pk"))
        lookup.surgeries = {surgery.pk: surgery for surgery in rows}
        lookup._by_patient = {patient.pk: rows}
        lookup._times = {patient.pk: [s.performed_at for s in rows]}
        return lookup

    def latest_surgery(self, patient: Patient, when) -> Surgery | None:
        rows = self._by_patient.get(patient.pk, [])
        index = bisect_right(self._times.get(patient.pk, []), when)
        return rows[index - 1] if index else None


def _patient_of(serializer: serializers.BaseSerializer) -> int | None:
    if serializer.instance is not None:
        return patient_id_of(serializer.instance)
    return getattr(serializer.validated_data.get("patient"), "pk", None)


def checked(serializer: serializers.BaseSerializer, validated: dict):
    """The serializer as `is_valid()` leaves it, from a validation already run."""
    serializer._validated_data, serializer._errors = validated, {}
    return serializer


BULK_ANSWER = inline_serializer(
    "BulkResult",
    {
        "saved": serializers.ListField(child=serializers.DictField()),
        "errors": serializers.ListField(child=serializers.DictField()),
    },
)


class BulkMixin:
    """Adds `POST .../bulk/` to a viewset whose serializer reads `context["bulk"]`."""

    def bulk_lookup(self, request, records: list) -> BulkLookup:
        return BulkLookup.read(request, records)

    def bulk_existing(self, record: dict, lookup: BulkLookup):
        """The row this record updates instead of creating (an upsert), if any."""
        return None

    def bulk_save(self, valid: list[tuple[int, serializers.BaseSerializer]]) -> list[dict]:
        """Save one by one, each in a savepoint so a clash spoils only its own record."""
        saved = []
        for index, serializer in valid:
            created = serializer.instance is None
            try:
                with transaction.atomic():
                    obj = serializer.save()
            except IntegrityError:
                saved.append({"index": index, "error": "conflicts with a record saved meanwhile"})
                continue
            saved.append({"index": index, "id": obj.pk, "created": created})
        return saved

    @extend_schema(
        request=inline_serializer(
            "BulkRequest", {"records": serializers.ListField(child=serializers.DictField())}
        ),
        responses=BULK_ANSWER,
        filters=False,
    )
    @action(detail=False, methods=["post"])
    def bulk(self, request):
        """Up to 1,000 records: the valid ones are saved, the invalid ones reported by index."""
        data = request.data
        records = data.get("records") if isinstance(data, dict) else data
        if not isinstance(records, list) or not records:
            return Response(
                {"records": ["Send a list of 1 to 1,000 records."]},
                status=status.HTTP_400_BAD_REQUEST,
            )
        if len(records) > MAX_RECORDS:
            return Response(
                {"records": [f"At most {MAX_RECORDS} records per request ({len(records)} sent)."]},
                status=status.HTTP_400_BAD_REQUEST,
            )
        lookup = self.bulk_lookup(request, records)
        context = {**self.get_serializer_context(), "bulk": lookup}
        serializer_class = self.get_serializer_class()
        # One serializer checks every record, as a ListSerializer's child does: DRF builds
        # a serializer's fields on first use, and building them for each record was most
        # of a bulk request's time.
        checker = serializer_class(context=context)
        valid, errors, seen = [], [], {}
        for index, record in enumerate(records):
            if not isinstance(record, dict):
                errors.append({"index": index, "errors": {"non_field_errors": ["Not an object."]}})
                continue
            checker.instance = self.bulk_existing(record, lookup)
            try:
                validated = checker.run_validation(record)
            except serializers.ValidationError as error:
                errors.append({"index": index, "errors": error.detail})
                continue
            serializer = checked(serializer_class(checker.instance, data=record, context=context),
                                  validated)  # fmt: skip
            if (key := self.bulk_key(serializer)) is not None:
                if key in seen:
                    errors.append({"index": index, "errors": {
                        "non_field_errors": [f"Same record as index {seen[key]} in this request."]
                    }})  # fmt: skip
                    continue
                seen[key] = index
            valid.append((index, serializer))
        # The lock order (patients.locks): every patient written to, in id order, first.
        lock_patients(_patient_of(serializer) for _, serializer in valid)
        saved = self.bulk_save(valid)
        errors += [{"index": s["index"], "errors": {"non_field_errors": [s["error"]]}}
                   for s in saved if "error" in s]  # fmt: skip
        saved = [s for s in saved if "error" not in s]
        return Response({"saved": saved, "errors": sorted(errors, key=lambda e: e["index"])})

    def bulk_key(self, serializer) -> object | None:
        """What makes two records of one request the same record (e.g. the MRN)."""
        return None
