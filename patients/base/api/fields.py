"""Fields shared by the API's serializers."""

import re
from datetime import date, datetime, time, timedelta

from django.utils import timezone
from rest_framework import serializers

from patients.models import Patient, Surgery

from .scoping import writable_clinic_ids

_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_MARGIN = timedelta(days=1)  # more than any UTC offset


class ClinicDateTimeField(serializers.DateTimeField):
    """ISO 8601 with an offset, or a date alone meaning that day in the clinic's zone.

    A date alone or a time without an offset is returned naive; the serializer
    places it in the clinic's time zone with `in_clinic_zone` once it knows the clinic.
    """

    def to_internal_value(self, value):
        if isinstance(value, str) and _DATE_ONLY.match(value.strip()):
            try:
                day = date.fromisoformat(value.strip())
            except ValueError:
                self.fail("invalid", format="YYYY-MM-DD or YYYY-MM-DDThh:mm[:ss]+hh:mm")
            return self._placeable(datetime.combine(day, time.min))
        if isinstance(value, str):
            try:
                parsed = datetime.fromisoformat(value.strip())
            except ValueError:
                self.fail("invalid", format="YYYY-MM-DD or YYYY-MM-DDThh:mm[:ss]+hh:mm")
            if timezone.is_naive(parsed):
                return self._placeable(parsed)
            # In UTC: PostgreSQL refuses offsets beyond 15:59 that Python accepts (+23:59),
            # and a time that is out of range in UTC (year 1 at +14:00) is named here.
            return self.enforce_timezone(parsed)
        return super().to_internal_value(value)

    def _placeable(self, naive: datetime) -> datetime:
        """A naive time that any clinic's zone can place without leaving the range."""
        if not datetime.min + _MARGIN <= naive <= datetime.max - _MARGIN:
            self.fail("overflow")
        return naive


def in_clinic_zone(value: datetime, patient: Patient) -> datetime:
    if timezone.is_naive(value):
        return value.replace(tzinfo=patient.clinic.zone)
    return value


def latest_instant(value: datetime, zone) -> datetime:
    """The latest instant a recorded time may stand for. A date alone is stored as the start
    of that local day and means the whole day (CLINICAL_RULES §2, "A date without a time":
    an exam dated the day of a surgery belongs to it), so its latest instant is the end of
    the day; a time of exactly local midnight is read the same way."""
    local = timezone.localtime(value, zone)
    if local.time() != time.min:
        return value
    next_day = datetime.combine(local.date() + timedelta(days=1), time.min, tzinfo=zone)
    return next_day - timedelta(microseconds=1)


def not_in_future(value: datetime | date) -> None:
    now = timezone.now()
    if (value > now) if isinstance(value, datetime) else (value > now.date()):
        raise serializers.ValidationError("Must not be in the future.")


class WritableRowField(serializers.PrimaryKeyRelatedField):
    """A row of a clinic the caller may write to; anything else 'does not exist'.

    In a bulk request the rows were read at once (patients/base/api/bulk.py): `bulk_rows`
    names the BulkLookup attribute that holds them.
    """

    bulk_rows = ""

    def get_queryset(self):
        request = self.context["request"]
        return super().get_queryset().filter(clinic_id__in=writable_clinic_ids(request))

    def to_internal_value(self, data):
        if (bulk := self.context.get("bulk")) is None:
            return super().to_internal_value(data)
        rows = getattr(bulk, self.bulk_rows)
        pk = data if isinstance(data, int) else (int(data) if str(data).isdecimal() else None)
        if pk is None or pk not in rows:
            self.fail("does_not_exist", pk_value=data)
        return rows[pk]


class WritablePatientField(WritableRowField):
    bulk_rows = "patients"

    def __init__(self, **kwargs):
        kwargs.setdefault("queryset", Patient.objects.select_related("clinic"))
        super().__init__(**kwargs)


class WritableSurgeryField(WritableRowField):
    bulk_rows = "surgeries"

    def __init__(self, **kwargs):
        kwargs.setdefault("queryset", Surgery.objects.all())
        super().__init__(**kwargs)
