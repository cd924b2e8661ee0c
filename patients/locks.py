"""The one order in which writers and refreshes lock rows (docs/architecture.md, "Lock
order"): the patients, by id; then their surgeries, by id; then the rest (exams,
findings, events, assessments, checkpoints, alerts).

Two transactions that take the same locks in different orders can deadlock, and
PostgreSQL then aborts one of them. Taking a patient's lock first makes every other
transaction about that patient wait at the door instead. The lock is explicit because
nothing else takes it: an INSERT or UPDATE that refers to a patient takes only FOR KEY
SHARE on its row, which conflicts with no other writer.

Every save and delete of a patient's records takes it through the receivers below
(`connect`): the API, the admin, FHIR and the shell alike. A path that locks rows
before saving (a PATCH locks the row it changes), or writes with bulk_create and
bulk_update (no signals), calls `lock_patients` or `lock_patients_of` itself, first.
"""

from collections.abc import Iterable

from django.db import connection
from django.db.models import Model, QuerySet
from django.db.models.signals import pre_delete, pre_save

from .models import Patient, PatientRecord, Surgery


def lock_patients(ids: Iterable[int | str | None]) -> None:
    """Lock these patients (FOR NO KEY UPDATE, in id order) until the transaction ends."""
    ids = sorted({int(pk) for pk in ids if pk is not None})
    if ids:
        lock_patients_of(Patient.objects.filter(pk__in=ids))


def lock_patients_of(rows: QuerySet) -> None:
    """Lock the patients of these rows (patients, or rows with a `patient`), in id order,
    in one query. Outside a transaction there is nothing to hold: a no-op."""
    if not connection.in_atomic_block:
        return
    field = patient_field(rows.model)
    if field is None:
        return
    patients = Patient.objects.filter(pk__in=rows.order_by().values(field))
    list(patients.order_by("pk").select_for_update(no_key=True).values_list("pk", flat=True))


def patient_field(model: type[Model]) -> str | None:
    """What names a row's patient: its own id for a patient, else its `patient` key."""
    if issubclass(model, Patient):
        return "pk"
    try:
        field = model._meta.get_field("patient")
    except Exception:  # FieldDoesNotExist: not about one patient
        return None
    return field.attname if field.related_model is Patient else None


def patient_id_of(instance: Model) -> int | None:
    field = patient_field(type(instance))
    return getattr(instance, "pk" if field == "pk" else field or "", None)


def _before_save(sender, instance, raw=False, **kwargs) -> None:
    if not raw:
        lock_patients([patient_id_of(instance)])


def _before_delete(sender, instance, origin=None, **kwargs) -> None:
    # One delete() sends this for every row it removes, cascades included: the first
    # call locks the patients of all the rows the delete started from, at once.
    model = origin.model if isinstance(origin, QuerySet) else type(origin)
    if origin is None or patient_field(model) is None:
        lock_patients([patient_id_of(instance)])
    elif not getattr(origin, "_patients_locked", False):
        if isinstance(origin, QuerySet):
            lock_patients_of(origin)
        else:
            lock_patients([patient_id_of(origin)])
        origin._patients_locked = True


def connect(models: Iterable[type[Model]]) -> None:
    for model in models:
        uid = f"patients.locks.{model._meta.label}"
        if model is not Patient:  # saving a patient's own row takes its lock
            pre_save.connect(_before_save, sender=model, dispatch_uid=f"{uid}.save")
        pre_delete.connect(_before_delete, sender=model, dispatch_uid=f"{uid}.delete")


def record_models(all_models: Iterable[type[Model]]) -> list[type[Model]]:
    """The patients, their surgeries, and every PatientRecord (exams, events, assessments)."""
    return [m for m in all_models if issubclass(m, Patient | Surgery | PatientRecord)]
