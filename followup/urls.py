"""The site's URL map: the admin, /api/v1/ (the three apps), FHIR with SMART Backend
Services' discovery and token endpoint, CDS Hooks, the API schema and docs, the health
checks."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from patients.base.smart import views as smart

from .cds import views as cds
from .health import healthz, healthz_deep

# Uncaught errors under /api/ and /fhir/ answer in their own shape, not an HTML page.
handler500 = "followup.transient.server_error"

api_v1 = [
    path("", include("patients.api.urls")),
    path("", include("imaging.api.urls")),
    path("", include("followup.api.urls")),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path(".well-known/smart-configuration", smart.smart_configuration, name="smart-configuration"),
    path("auth/token", smart.token, name="smart-token"),
    path("fhir/r4/", include("followup.fhir.urls")),
    path("cds-services", cds.DiscoveryView.as_view(), name="cds-discovery"),
    path("cds-services/<slug:service_id>", cds.HookView.as_view(), name="cds-service"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="docs"),
    path("healthz", healthz, name="healthz"),
    path("healthz/deep", healthz_deep, name="healthz-deep"),
]
