"""Patients' follow-up histories told through the public API, step by step, each test
asserting what CLINICAL_RULES §2, §4, §5 and §6 say should happen (see story.py)."""
