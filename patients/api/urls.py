"""Routes of the patients' endpoints under /api/v1/: patients, surgeries, clinical events,
assessments."""

from rest_framework.routers import SimpleRouter

from .views import AssessmentViewSet, ClinicalEventViewSet, PatientViewSet, SurgeryViewSet

router = SimpleRouter()
router.register("patients", PatientViewSet)
router.register("surgeries", SurgeryViewSet)
router.register("clinical-events", ClinicalEventViewSet)
router.register("assessments", AssessmentViewSet)

urlpatterns = router.urls
