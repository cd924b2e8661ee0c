"""FHIR R4 at /fhir/r4/: read and search, a CapabilityStatement, a transaction import.

Models to resources: `resources` (Patient, Procedure, ImagingStudy, DiagnosticReport),
`observations` (findings, scores), `followup_resources` (CarePlan, Flag), `measures`
(the capture rates' Measure and MeasureReport), with the systems of `codes` and the
builders of `datatypes`. Resources to models: `entries` checks a Bundle, `readers` reads
each resource into REST serializer data, `importer` matches and saves through those
serializers. `views` and `urls` serve it all.
See docs/fhir.md.
"""
