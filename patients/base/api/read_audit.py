"""The audit of reads: every API and FHIR answer that shows patient records is logged with
who asked and which patients it showed (the pghistory trail covers the writes; the admin's
pages are audited by patients/base/admin/scoping.py). Kept READ_AUDIT_RETENTION_DAYS days."""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

from patients.models import ApiClient, RecordRead

from ..middleware import route_of
from .scoping import readable_clinic_ids


def patients_shown(data, field: str) -> list[int]:
    if not isinstance(data, dict):
        return []
    rows = data.get("results") if isinstance(data.get("results"), list) else [data]
    # A patient's own answers say "id"; everything about a patient says "patient".
    return sorted(
        {row.get(field) or row.get("patient") for row in rows if isinstance(row, dict)} - {None}
    )


def fhir_patients_shown(data) -> list[int]:
    """Patients in a FHIR resource or searchset: Patient ids, subject/patient references."""
    if not isinstance(data, dict):
        return []
    resources = [e.get("resource", {}) for e in data.get("entry", [])] if (
        data.get("resourceType") == "Bundle"
    ) else [data]  # fmt: skip
    ids = set()
    for resource in resources:
        if resource.get("resourceType") == "Patient" and str(resource.get("id", "")).isdigit():
            ids.add(int(resource["id"]))
        for key in ("subject", "patient"):
            reference = (resource.get(key) or {}).get("reference", "")
            if reference.startswith("Patient/") and reference[8:].isdigit():
                ids.add(int(reference[8:]))
    return sorted(ids)


def record(request, view, response) -> None:
    field = getattr(view, "audit_patient_field", "patient")
    if field is None or request.method != "GET" or response.status_code != 200:
        return
    data = getattr(response, "data", None)
    ids = fhir_patients_shown(data) if field == "fhir" else patients_shown(data, field)
    if not ids:
        return
    client = request.auth if isinstance(request.auth, ApiClient) else None
    RecordRead.objects.create(
        clinic_id=client.clinic_id if client else min(readable_clinic_ids(request)),
        user=None if client else request.user,
        client=client,
        endpoint=route_of(request),
        patient_ids=ids,
        at=timezone.now(),
    )


class AuditedReads:
    """For an API view that is not a ClinicScopedViewSet (which audits its own answers):
    FHIR's Observation. Set `audit_patient_field` as on the viewsets."""

    audit_patient_field = "patient"

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if not (connection.in_atomic_block and connection.needs_rollback):
            record(request, self, response)
        return response


PURGE_BATCH = 10_000


def forget_old(now: datetime) -> int:
    """Deletes up to PURGE_BATCH reads older than the retention (the oldest first), so that the
    sweep that calls it stays short; `manage.py purge_read_audit` loops until none is left.
    A retention of 0 keeps everything."""
    days = settings.READ_AUDIT_RETENTION_DAYS
    if days <= 0:
        return 0
    old = RecordRead.objects.filter(at__lt=now - timedelta(days=days)).order_by("at")
    return RecordRead.objects.filter(pk__in=old.values("pk")[:PURGE_BATCH]).delete()[0]
