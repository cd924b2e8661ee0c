"""The outcomes report (docs/outcomes.md): its figures computed in SQL per clinic
(`outcomes`), the statistics made from the aggregates (`stats`), and the pseudonymised
patient-level rows for a registry (`registry`)."""
