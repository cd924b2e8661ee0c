"""The outbox and the subscriptions in the admin (registered by followup/admin/__init__.py)."""

from django import forms
from django.contrib import admin

from followup.models import Email, Subscription
from patients.access import access_of
from patients.base.admin.scoping import ClinicFilter, ClinicScopedAdmin
from patients.models import Clinic


@admin.register(Email)
class EmailAdmin(ClinicScopedAdmin):
    """What was sent, what waits, and why it failed: read only."""

    list_display = [
        "created_at",
        "kind",
        "recipient",
        "status",
        "attempts",
        "sent_at",
        "last_error",
    ]
    list_filter = ["kind", "status", ClinicFilter]
    search_fields = ["=recipient", "key"]
    # The subject of an urgent notice names the patient (MRN and initials): the outbox
    # shows what delivery needs, no patient data, so reading it is no read of a record.
    exclude = ["subject"]
    readonly_fields = [f.name for f in Email._meta.fields if f.name != "subject"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class SubscriptionForm(forms.ModelForm):
    """`user` is not on the form (it is the person saving), so the form cannot check the
    model's unique (user, clinic) itself: a second subscription would be a 500."""

    owner = None  # set per request by SubscriptionAdmin.get_form

    def clean_clinic(self):
        clinic = self.cleaned_data["clinic"]
        taken = Subscription.objects.filter(user=self.owner, clinic=clinic)
        if taken.exclude(pk=self.instance.pk).exists():
            raise forms.ValidationError("There are already settings for this clinic.")
        return clinic


@admin.register(Subscription)
class SubscriptionAdmin(ClinicScopedAdmin):
    """Each staff member sets their own (superusers see everyone's)."""

    list_display = ["user", "clinic", "digest", "urgent"]
    list_filter = [ClinicFilter]
    form = SubscriptionForm

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)  # a new class for each request
        form.owner = obj.user if obj is not None else request.user
        return form

    def get_queryset(self, request):
        queryset = super().get_queryset(request).select_related("user", "clinic")
        if request.user.is_superuser:
            return queryset
        return queryset.filter(user=request.user)

    def get_fields(self, request, obj=None):
        return ["clinic", "digest", "urgent"]

    def has_add_permission(self, request, obj=None) -> bool:
        return bool(super().has_view_permission(request))

    def has_change_permission(self, request, obj=None) -> bool:
        return obj is None or obj.user_id == request.user.pk or request.user.is_superuser

    def has_delete_permission(self, request, obj=None) -> bool:
        return self.has_change_permission(request, obj)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "clinic":
            field.queryset = Clinic.objects.filter(pk__in=access_of(request).readable)
        return field

    def save_model(self, request, obj, form, change):
        if not change:
            obj.user = request.user
        super().save_model(request, obj, form, change)
