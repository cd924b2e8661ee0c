"""Whatever the entry path (API, admin, shell), a change that affects a patient's
follow-up marks their surgeries stale; the refresh task and the sweep do the rest.

Findings are always written with their exam (API and admin save the exam too), so
the exam's signal covers them; a bulk write of exams sends `exams_written_in_bulk`.
"""

from functools import partial

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone

from followup.pipeline.alerts_lifecycle import auto_resolve
from followup.pipeline.refresh import mark_stale
from followup.pipeline.schedule import plan_workups
from imaging.models import ImagingExam
from imaging.signals import exams_written_in_bulk
from patients.models import (
    ApiClient,
    Assessment,
    CdsHooksClient,
    ClinicalEvent,
    Patient,
    SmartClient,
    Surgery,
    client_revoked,
)
from patients.signals import clinical_event_recorded

from . import jwks
from .models import Alert, FhirSubscription, FhirSubscriptionStatus, WebhookEndpoint


def _patients_surgeries(patient_id: int):
    return Surgery.objects.filter(patient_id=patient_id).values_list("pk", flat=True)


@receiver(post_save, sender=Surgery, dispatch_uid="followup.surgery_saved")
def surgery_saved(sender, instance: Surgery, raw=False, **kwargs):
    if not raw:
        mark_stale([instance.pk])


@receiver(post_delete, sender=Surgery, dispatch_uid="followup.surgery_deleted")
def surgery_deleted(sender, instance: Surgery, **kwargs):
    """Its checkpoints and alerts go with it; the patient's other surgeries are evaluated
    again (fused levels, matches across surgeries), and with no surgery left, no cause
    about the patient as a whole is left either."""
    others = list(_patients_surgeries(instance.patient_id))
    if others:
        mark_stale(others)
    else:
        auto_resolve(
            Alert.objects.filter(patient_id=instance.patient_id, surgery__isnull=True),
            timezone.now(),
            "Cause gone: the patient has no surgery left.",
        )


@receiver(post_save, sender=Patient, dispatch_uid="followup.patient_status_changed")
def patient_status_changed(sender, instance: Patient, raw=False, created=False, **kwargs):
    """A follow-up ended (deceased, declined...) or resumed: the refresh resolves the open
    overdue alerts with the reason, or the sweep raises them again."""
    if not raw and not created and instance.followup_status_changed:
        mark_stale(_patients_surgeries(instance.pk))


@receiver(post_save, sender=ImagingExam, dispatch_uid="followup.exam_saved")
@receiver(post_delete, sender=ImagingExam, dispatch_uid="followup.exam_deleted")
@receiver(post_save, sender=ClinicalEvent, dispatch_uid="followup.event_saved")
@receiver(post_delete, sender=ClinicalEvent, dispatch_uid="followup.event_deleted")
@receiver(post_save, sender=Assessment, dispatch_uid="followup.assessment_saved")
@receiver(post_delete, sender=Assessment, dispatch_uid="followup.assessment_deleted")
def record_changed(sender, instance, raw=False, **kwargs):
    """An exam answers every surgery it comes after, whichever it is attached to (or
    none): the patient's follow-up is refreshed as a whole."""
    if not raw:
        mark_stale(_patients_surgeries(instance.patient_id))


@receiver(clinical_event_recorded, dispatch_uid="followup.event_plans_its_workup")
def event_plans_its_workup(sender, event: ClinicalEvent, **kwargs):
    """An emergency cannot wait for a worker: the work-up of a symptom recorded through the
    API or the admin is planned in that transaction, so the answer shows it; the refresh
    task matches exams to it later."""
    if event.surgery_id:
        plan_workups(event.surgery, timezone.now())


@receiver(exams_written_in_bulk, sender=ImagingExam, dispatch_uid="followup.exams_bulk")
def exams_written_in_bulk_mark_stale(sender, surgery_ids, **kwargs):
    mark_stale(surgery_ids)


@receiver(client_revoked, sender=ApiClient, dispatch_uid="followup.client_revoked")
def client_revoked_disables_its_webhooks(sender, client: ApiClient, **kwargs):
    """A revoked integration receives nothing more: the receivers it registered stop, and its
    FHIR subscriptions are turned off, in the revoking transaction (their log stays)."""
    WebhookEndpoint.objects.filter(client=client, active=True).update(active=False)
    FhirSubscription.objects.filter(client=client).exclude(
        status=FhirSubscriptionStatus.OFF
    ).update(status=FhirSubscriptionStatus.OFF, reason="The client was revoked.")


@receiver(post_save, sender=SmartClient, dispatch_uid="followup.smart_client_registered")
@receiver(post_save, sender=CdsHooksClient, dispatch_uid="followup.cds_client_registered")
def party_registered_fetches_its_keys(sender, instance, created, raw=False, **kwargs):
    """A party registered with a JWK Set URL has its keys once the registration is
    committed (never a network wait inside a transaction), then every few minutes
    (followup/jwks.py); its admin page says when they were fetched, or why not."""
    if created and not raw and instance.jwks_url:
        transaction.on_commit(partial(jwks.fetch, instance))
