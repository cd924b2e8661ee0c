"""Routes of the exams endpoint under /api/v1/."""

from rest_framework.routers import SimpleRouter

from .views import ExamViewSet

router = SimpleRouter()
router.register("exams", ExamViewSet)

urlpatterns = router.urls
