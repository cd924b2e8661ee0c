"""/fhir/r4/: FHIR's own URL shapes (`Type`, `Type/<id>`, `metadata`), no trailing slash."""

from django.urls import path, re_path

from patients.base.smart.views import smart_configuration

from . import measures, views

VIEWSETS = {
    "Patient": views.PatientViewSet,
    "Procedure": views.ProcedureViewSet,
    "ImagingStudy": views.ImagingStudyViewSet,
    "DiagnosticReport": views.DiagnosticReportViewSet,
    "CarePlan": views.CarePlanViewSet,
    "Flag": views.FlagViewSet,
}

urlpatterns = [
    path("", views.TransactionView.as_view(), name="fhir-transaction"),
    path("metadata", views.CapabilityView.as_view(), name="fhir-metadata"),
    # SMART clients look for it under the FHIR base too (SMART App Launch v2).
    path(
        ".well-known/smart-configuration",
        smart_configuration,
        name="fhir-smart-configuration",
    ),
    path("Observation", views.ObservationView.as_view(), name="fhir-observation-search"),
    path("Observation/<str:pk>", views.ObservationView.as_view(), name="fhir-observation"),
]
for resource_type, viewset in VIEWSETS.items():
    urlpatterns += [
        path(resource_type, viewset.as_view({"get": "list"}), name=f"fhir-{resource_type}-search"),
        path(
            f"{resource_type}/<str:pk>",
            viewset.as_view({"get": "retrieve"}),
            name=f"fhir-{resource_type}",
        ),
    ]
urlpatterns += [
    path(
        "Subscription",
        views.SubscriptionViewSet.as_view({"get": "list", "post": "create"}),
        name="fhir-Subscription-search",
    ),
    path(
        "Subscription/<str:pk>",
        views.SubscriptionViewSet.as_view({"get": "retrieve", "delete": "destroy"}),
        name="fhir-Subscription",
    ),
    path(
        "Subscription/<str:pk>/$status",
        views.SubscriptionViewSet.as_view({"get": "status"}),
        name="fhir-Subscription-status",
    ),
    path("Basic", views.TopicViewSet.as_view({"get": "list"}), name="fhir-Basic-search"),
    path("Basic/<str:pk>", views.TopicViewSet.as_view({"get": "retrieve"}), name="fhir-Basic"),
    path(
        f"Measure/{measures.MEASURE_ID}/$evaluate-measure",
        views.EvaluateMeasureView.as_view(),
        name="fhir-Measure-evaluate-measure",
    ),
    path("Measure/<str:pk>", views.MeasureView.as_view(), name="fhir-Measure"),
]
urlpatterns.append(re_path(r"^(?P<path>.+)$", views.UnknownView.as_view()))
