"""The base of every endpoint: tenant scoping lives here once."""

from rest_framework import mixins, viewsets

from .scoping import readable_clinic_ids


class ClinicScopedViewSet(viewsets.GenericViewSet):
    """Only rows of the caller's clinics exist: another clinic's object is a 404.

    Models served through it carry a `clinic` foreign key. Each request runs in one
    transaction (ATOMIC_REQUESTS), so a failed request writes nothing.
    """

    def get_queryset(self):
        return super().get_queryset().filter(clinic_id__in=readable_clinic_ids(self.request))


class ReadWriteViewSet(
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    mixins.ListModelMixin,
    ClinicScopedViewSet,
):
    """List, create, read and PATCH (no PUT, no DELETE through the API)."""

    http_method_names = ["get", "post", "patch", "head", "options"]
