"""The audit of reads in the admin: who saw which patients, when, through which page or
endpoint (superusers only)."""

from django.contrib import admin

from patients.base.admin.scoping import CappedCountPaginator
from patients.models import Patient, RecordRead


class PatientReadFilter(admin.SimpleListFilter):
    """`?patient=<id>`: the reads that showed this patient (the id of the patient's page)."""

    title = "patient"
    parameter_name = "patient"

    def lookups(self, request, model_admin):
        value = self.value() or ""
        return [(value, f"patient {value}")] if value.isdecimal() and len(value) < 19 else []

    def queryset(self, request, queryset):
        return queryset.filter(patient_ids__contains=[int(self.value())])


@admin.register(RecordRead)
class RecordReadAdmin(admin.ModelAdmin):
    """The audit of reads: who saw which patients, when, through which page or endpoint.
    Superusers only (it tells who looked at whom across every clinic); nobody edits it; the
    sweep deletes it after READ_AUDIT_RETENTION_DAYS."""

    list_display = ["at", "user", "client", "clinic", "endpoint", "patients"]
    list_select_related = ["user", "client__clinic", "clinic"]
    list_filter = [("at", admin.DateFieldListFilter), "user", "client", "clinic",
                   PatientReadFilter]  # fmt: skip
    search_fields = ["patient_ids"]  # shows the box; get_search_results reads it
    search_help_text = "A patient's MRN, or their id"
    fields = readonly_fields = ["at", "user", "client", "clinic", "endpoint", "patient_ids"]
    show_full_result_count = False  # the table is large: never COUNT it all
    paginator = CappedCountPaginator

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        ids = list(Patient.objects.filter(mrn=term).values_list("pk", flat=True))
        if term.isdecimal() and len(term) < 19:
            ids.append(int(term))
        return queryset.filter(patient_ids__overlap=ids), False

    @admin.display(description="patients")
    def patients(self, read: RecordRead) -> str:
        ids = ", ".join(map(str, read.patient_ids[:20]))
        return ids if len(read.patient_ids) <= 20 else f"{ids}, … ({len(read.patient_ids)})"

    def has_module_permission(self, request) -> bool:
        return request.user.is_superuser

    def has_view_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # the retention deletes it, nobody else
