"""The patients app; its ready() connects the lock order's receivers (patients/locks.py)."""

from django.apps import AppConfig, apps


class PatientsConfig(AppConfig):
    name = "patients"
    verbose_name = "Clinics and patients"

    def ready(self) -> None:
        from . import locks

        # Every app's models are loaded by now: exams (imaging) are PatientRecords too.
        locks.connect(locks.record_models(apps.get_models()))
