"""DICOM (API_CONTRACT, "Hospital feeds / DICOM"): `listener` is the storage SCP
(`manage.py dicom_listener`, pynetdicom), `headers` reads what a study is from an
instance's header, `dose` reads a Radiation Dose SR, `storing` lands both through the
REST API's serializers (same validation, audit and refresh), `reconcile` asks the PACS
over DICOMweb for what no association brought (`manage.py pacs_sync`)."""
