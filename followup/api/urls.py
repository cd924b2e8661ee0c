"""Routes of the follow-up endpoints under /api/v1/: each patient's timeline, checkpoints,
alerts, subscriptions, webhooks, the outcomes report."""

from django.urls import re_path
from rest_framework.routers import SimpleRouter

from .reports import OutcomesReportViewSet
from .views import (
    AlertViewSet,
    CheckpointViewSet,
    PatientTimelineViewSet,
    SubscriptionViewSet,
    WebhookEndpointViewSet,
)

router = SimpleRouter()
router.register("checkpoints", CheckpointViewSet)
router.register("alerts", AlertViewSet)
router.register("subscriptions", SubscriptionViewSet)
router.register("webhooks", WebhookEndpointViewSet)

urlpatterns = [
    # Beside the patients' own routes (patients/api/urls.py), as their router would name it.
    re_path(
        r"^patients/(?P<pk>[^/.]+)/timeline/$",
        PatientTimelineViewSet.as_view({"get": "retrieve"}),
        name="patient-timeline",
    ),
    re_path(
        r"^reports/outcomes/$",
        OutcomesReportViewSet.as_view({"get": "list"}),
        name="reports-outcomes",
    ),
    *router.urls,
]
