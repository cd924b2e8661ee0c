"""The imaging app: exams, findings and their vocabulary."""

from django.apps import AppConfig


class ImagingConfig(AppConfig):
    name = "imaging"
    verbose_name = "Imaging"
