"""Which of the clinic's patients a hook request is about, from what the EHR sent.

The prefetched `patient` resource's identifiers come first: its MRN (an identifier of type
`MR`, or any in the clinic's MRN system) against the clinic's MRNs, any other `system|value`
against the identifiers we hold.
Without identifiers, `context.patientId` is this service's FHIR id only when `fhirServer`
is this service's own FHIR base, and otherwise the clinic's MRN: an EHR's own ids are never
read as ours (another person's record would be shown)."""

from django.conf import settings
from django.db.models import Q

from patients.models import Clinic, Patient

from ..fhir import codes

MR_TYPE = "MR"


def fhir_base() -> str:
    return f"{settings.SITE_URL}/fhir/r4"


def _identifiers(resource: dict) -> list[dict]:
    found = resource.get("identifier") if isinstance(resource, dict) else None
    return [i for i in found if isinstance(i, dict)] if isinstance(found, list) else []


def _is_mrn(identifier: dict) -> bool:
    codings = (identifier.get("type") or {}).get("coding") or []
    return any(isinstance(c, dict) and c.get("code") == MR_TYPE for c in codings)


def find(clinic: Clinic, context: dict, prefetch: dict, fhir_server) -> Patient | None:
    patients = Patient.objects.filter(clinic=clinic)
    resource = prefetch.get("patient") if isinstance(prefetch, dict) else None
    if identifiers := _identifiers(resource):
        clinic_mrns = codes.mrn_system(clinic)
        match = Q(pk__in=[])
        for identifier in identifiers:
            value, system = identifier.get("value"), identifier.get("system")
            if not isinstance(value, str) or not value:
                continue
            if _is_mrn(identifier) or system == clinic_mrns:
                match |= Q(mrn=value)
            if isinstance(system, str) and system:
                match |= Q(external_ids__system=system, external_ids__value=value)
        found = list(patients.filter(match).distinct()[:2])
        return found[0] if len(found) == 1 else None  # two people: show nothing
    patient_id = context.get("patientId")
    if not isinstance(patient_id, str) or not patient_id:
        return None
    if isinstance(fhir_server, str) and fhir_server.rstrip("/") == fhir_base():
        return patients.filter(pk=int(patient_id)).first() if patient_id.isdecimal() else None
    return patients.filter(mrn=patient_id).first()
