"""The audit of reads: which patients' records were shown to whom through the API."""

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models

from .tenancy import ApiClient, Clinic


class RecordRead(models.Model):
    """Who read which patients' records through the API, and when (writes are in the
    pghistory trail). One row per request, with the patients it showed."""

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    client = models.ForeignKey(
        ApiClient, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    endpoint = models.CharField(max_length=200)
    patient_ids = ArrayField(models.BigIntegerField())
    at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-at"]
        indexes = [
            GinIndex(fields=["patient_ids"], name="recordread_patients_idx"),
        ]

    def __str__(self) -> str:
        who = f"client {self.client_id}" if self.client_id else f"user {self.user_id}"
        return f"{who} read {len(self.patient_ids)} patient(s) at {self.endpoint}"
