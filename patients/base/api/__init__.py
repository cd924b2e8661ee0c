"""The API base every app's endpoints stand on (patients, imaging, followup)."""
