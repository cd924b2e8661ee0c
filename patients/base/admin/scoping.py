"""The admin's one base for clinic scoping: staff see and change only their clinics.

Authority comes from memberships (patients.access), not from Django's model
permissions: a viewer may look, a clinician or manager may change.

Every admin page that shows patient records (a list, a record, its history, the delete
confirmation, the worklist, an autocomplete answer) writes one `RecordRead` with the user
and the patients it showed, as the API does (patients/base/api/read_audit.py).
"""

from collections.abc import Callable, Iterable

from django.contrib import admin
from django.contrib.admin.views.autocomplete import AutocompleteJsonView
from django.core.paginator import Paginator
from django.db.models import Model
from django.http import HttpRequest
from django.utils import timezone
from django.utils.functional import cached_property

from patients.access import access_of
from patients.base.middleware import route_of
from patients.locks import patient_field, patient_id_of
from patients.models import Clinic, Patient, RecordRead, Surgery


class ClinicScopedMixin:
    """For ModelAdmin and inlines. `clinic_lookup` leads from the model to its clinic."""

    clinic_lookup = "clinic"

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        return queryset.filter(**{f"{self.clinic_lookup}__in": access_of(request).readable})

    def _clinic_of(self, obj) -> int | None:
        for step in self.clinic_lookup.split("__"):
            obj = getattr(obj, step, None)
        return getattr(obj, "pk", None)

    def has_module_permission(self, request) -> bool:
        return bool(access_of(request).readable)

    def has_view_permission(self, request, obj=None) -> bool:
        access = access_of(request)
        return bool(access.readable) and (obj is None or self._clinic_of(obj) in access.readable)

    def has_add_permission(self, request, obj=None) -> bool:
        return bool(access_of(request).writable)

    def has_change_permission(self, request, obj=None) -> bool:
        access = access_of(request)
        return bool(access.writable) and (obj is None or self._clinic_of(obj) in access.writable)

    def has_delete_permission(self, request, obj=None) -> bool:
        return self.has_change_permission(request, obj)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        writable = access_of(request).writable
        if db_field.related_model is Clinic:
            kwargs["queryset"] = Clinic.objects.filter(pk__in=writable)
        elif db_field.related_model in (Patient, Surgery):
            kwargs["queryset"] = db_field.related_model.objects.filter(clinic_id__in=writable)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class CappedCountPaginator(Paginator):
    """Counts at most CAP rows: a list page over 100,000 patients never COUNTs them all
    (beyond the cap the admin shows CAP and its last page link stops there)."""

    CAP = 10_000

    @cached_property
    def count(self) -> int:
        return self.object_list[: self.CAP].count()


def record_reads(request: HttpRequest, rows: Iterable[Model]) -> None:
    """One insert for the page: a `RecordRead` per clinic whose patients it showed."""
    shown: dict[int, set[int]] = {}
    for row in rows:
        if (patient := patient_id_of(row)) is not None:
            shown.setdefault(row.clinic_id, set()).add(patient)
    if shown:
        endpoint, now = route_of(request), timezone.now()
        RecordRead.objects.bulk_create(
            RecordRead(clinic_id=clinic, user=request.user, endpoint=endpoint,
                       patient_ids=sorted(ids), at=now)
            for clinic, ids in sorted(shown.items())
        )  # fmt: skip


def audit_when_rendered(request: HttpRequest, response, rows: Callable[[], Iterable[Model]]):
    """Records the reads once the page is rendered: the template has read the rows by then
    (a list page's rows are fetched once, not again here), and a page that failed to render
    showed nothing. Redirects (a saved form) show nothing either."""
    if hasattr(response, "add_post_render_callback") and response.status_code == 200:
        response.add_post_render_callback(lambda _: record_reads(request, rows()))
    return response


class ClinicScopedAdmin(ClinicScopedMixin, admin.ModelAdmin):
    # Huge tables: never COUNT(*) the whole table to show "N total".
    show_full_result_count = False
    paginator = CappedCountPaginator
    list_per_page = 50

    # --- the audit of reads: only models about a patient (patients.locks.patient_field) -----

    def _audited(self, request, response, context_key: str):
        if patient_field(self.model) is None or not hasattr(response, "context_data"):
            return response
        context = response.context_data

        def shown():
            if context_key != "cl":
                return filter(None, [context.get(context_key)])
            if "cl" in context:
                return context["cl"].result_list
            return context.get("queryset", [])  # an action's confirmation (delete selected)

        return audit_when_rendered(request, response, shown)

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        return self._audited(request, response, "cl")

    def change_view(self, request, object_id, form_url="", extra_context=None):
        response = super().change_view(request, object_id, form_url, extra_context)
        return self._audited(request, response, "original")

    def history_view(self, request, object_id, extra_context=None):
        response = super().history_view(request, object_id, extra_context)
        return self._audited(request, response, "object")

    def delete_view(self, request, object_id, extra_context=None):
        response = super().delete_view(request, object_id, extra_context)
        return self._audited(request, response, "object")


class AuditedAutocompleteJsonView(AutocompleteJsonView):
    """The admin's autocomplete (a patient searched by name or MRN): its answer is a read."""

    shown: list[Model] = []

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        if patient_field(self.model_admin.model) is not None:
            self.shown = context["object_list"] = list(context["object_list"])  # read once
        return context

    def get(self, request, *args, **kwargs):
        response = super().get(request, *args, **kwargs)
        record_reads(request, self.shown)
        return response


class ClinicFilter(admin.SimpleListFilter):
    """The staff member's own clinics, without scanning the listed table for them."""

    title = "clinic"
    parameter_name = "clinic"

    def lookups(self, request, model_admin):
        clinics = Clinic.objects.filter(pk__in=access_of(request).readable)
        return [(clinic.pk, clinic.name) for clinic in clinics]

    def queryset(self, request, queryset):
        if self.value():
            if not self.value().isascii() or not self.value().isdigit():
                return queryset.none()  # ?clinic=abc: no clinic, not a 500
            return queryset.filter(clinic_id=self.value())
        return queryset
