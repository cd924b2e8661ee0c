"""Whatever the entry path (API, admin, shell), a change that affects a surgery's
follow-up marks it stale; the refresh task and the sweep do the rest.

Findings are always written with their exam (API and admin save the exam too), so
the exam's signal covers them; bulk paths call `mark_stale` themselves.
"""

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from imaging.models import ImagingExam
from patients.models import Assessment, ClinicalEvent, Surgery

from .models import Checkpoint
from .refresh import mark_stale


@receiver(post_save, sender=Surgery, dispatch_uid="followup.surgery_saved")
def surgery_saved(sender, instance: Surgery, raw=False, **kwargs):
    if not raw:
        mark_stale([instance.pk])


@receiver(post_save, sender=ImagingExam, dispatch_uid="followup.exam_saved")
@receiver(post_delete, sender=ImagingExam, dispatch_uid="followup.exam_deleted")
def exam_changed(sender, instance: ImagingExam, raw=False, **kwargs):
    if raw:
        return
    # Its surgery now, and any surgery whose checkpoint it satisfied before.
    before = Checkpoint.objects.filter(satisfied_by_id=instance.pk).values_list(
        "surgery_id", flat=True
    )
    mark_stale([instance.surgery_id, *before])


@receiver(post_save, sender=ClinicalEvent, dispatch_uid="followup.event_saved")
@receiver(post_delete, sender=ClinicalEvent, dispatch_uid="followup.event_deleted")
@receiver(post_save, sender=Assessment, dispatch_uid="followup.assessment_saved")
@receiver(post_delete, sender=Assessment, dispatch_uid="followup.assessment_deleted")
def symptom_or_score_changed(sender, instance, raw=False, **kwargs):
    if not raw:
        mark_stale([instance.surgery_id])
