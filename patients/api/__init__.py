"""The patients' REST endpoints: patients, surgeries, clinical events, assessments."""
