from rest_framework.routers import SimpleRouter

from .views import AlertViewSet, CheckpointViewSet

router = SimpleRouter()
router.register("checkpoints", CheckpointViewSet)
router.register("alerts", AlertViewSet)

urlpatterns = router.urls
