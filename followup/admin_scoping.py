"""The admin's one base for clinic scoping: staff see and change only their clinics.

Authority comes from memberships (patients.access), not from Django's model
permissions: a viewer may look, a clinician or manager may change.
"""

from django.contrib import admin
from django.core.paginator import Paginator
from django.http import HttpRequest
from django.utils.functional import cached_property

from patients.access import ClinicAccess, access_for_user
from patients.models import Clinic, Patient, Surgery


def admin_access(request: HttpRequest) -> ClinicAccess:
    if not hasattr(request, "_clinic_access"):
        request._clinic_access = access_for_user(request.user)
    return request._clinic_access


class ClinicScopedMixin:
    """For ModelAdmin and inlines. `clinic_lookup` leads from the model to its clinic."""

    clinic_lookup = "clinic"

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        return queryset.filter(**{f"{self.clinic_lookup}__in": admin_access(request).readable})

    def _clinic_of(self, obj) -> int | None:
        for step in self.clinic_lookup.split("__"):
            obj = getattr(obj, step, None)
        return getattr(obj, "pk", None)

    def has_module_permission(self, request) -> bool:
        return bool(admin_access(request).readable)

    def has_view_permission(self, request, obj=None) -> bool:
        access = admin_access(request)
        return bool(access.readable) and (obj is None or self._clinic_of(obj) in access.readable)

    def has_add_permission(self, request, obj=None) -> bool:
        return bool(admin_access(request).writable)

    def has_change_permission(self, request, obj=None) -> bool:
        access = admin_access(request)
        return bool(access.writable) and (obj is None or self._clinic_of(obj) in access.writable)

    def has_delete_permission(self, request, obj=None) -> bool:
        return self.has_change_permission(request, obj)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        writable = admin_access(request).writable
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


class ClinicScopedAdmin(ClinicScopedMixin, admin.ModelAdmin):
    # Huge tables: never COUNT(*) the whole table to show "N total".
    show_full_result_count = False
    paginator = CappedCountPaginator
    list_per_page = 50


class ClinicFilter(admin.SimpleListFilter):
    """The staff member's own clinics, without scanning the listed table for them."""

    title = "clinic"
    parameter_name = "clinic"

    def lookups(self, request, model_admin):
        clinics = Clinic.objects.filter(pk__in=admin_access(request).readable)
        return [(clinic.pk, clinic.name) for clinic in clinics]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(clinic_id=self.value())
        return queryset
