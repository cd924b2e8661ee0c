from rest_framework.routers import SimpleRouter

from .views import PatientViewSet, SurgeryViewSet

router = SimpleRouter()
router.register("patients", PatientViewSet)
router.register("surgeries", SurgeryViewSet)

urlpatterns = router.urls
