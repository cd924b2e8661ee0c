"""Routes of the follow-up endpoints under /api/v1/: checkpoints, alerts, subscriptions,
webhooks."""

from rest_framework.routers import SimpleRouter

from .views import AlertViewSet, CheckpointViewSet, SubscriptionViewSet, WebhookEndpointViewSet

router = SimpleRouter()
router.register("checkpoints", CheckpointViewSet)
router.register("alerts", AlertViewSet)
router.register("subscriptions", SubscriptionViewSet)
router.register("webhooks", WebhookEndpointViewSet)

urlpatterns = router.urls
