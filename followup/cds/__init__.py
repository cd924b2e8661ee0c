"""CDS Hooks 2.0 (`/cds-services`): the follow-up's cards in the clinician's EHR screen.
`patient-view`: the patient's overdue checkpoints and open high or urgent alerts;
`order-select`: the CLINICAL_RULES advice on an MR order (gadolinium after the cutoff, MR
for a fusion or hardware question). Requests authenticate with the EHR's signed JWT."""
