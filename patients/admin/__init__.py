"""The patients' admin pages; importing this package (Django's autodiscovery does) registers
them: the tenancy (clinics, API clients), SMART and CDS Hooks clients, the patient records,
the audit of reads."""

from . import reads, records, smart, tenancy  # noqa: F401
