"""The follow-up pipeline: what turns a patient's records and the clock into checkpoints,
matches and alerts.

refresh.py marks surgeries stale and refreshes a patient as a whole: schedule.py plans
the checkpoints and work-ups, recurrence.py keeps detected pain recurrences in step,
matching.py assigns exams to checkpoints, evaluation.py runs the findings rules
(followup/rules/) and keeps their alerts in step, alerts_lifecycle.py moves alerts
through their states. sweep.py catches up on stale surgeries and raises the overdue
alerts; waivers.py is what staff do to a checkpoint. It sends nothing: delivery reads
the alerts later (an import-linter contract).
"""
