"""Delivery: what leaves the service, read from the alerts after the pipeline wrote them.

outbox.py is the one mechanism every channel delivers through (claims that name their
run, one retry schedule with its circuit breaker, batches, a run's time budget); the
channels stand on it: mailing.py the e-mail (digests, urgent notices, escalations, which
queueing.py records as owed and digest.py says), webhooks.py the alert events to the
clinics' receivers (through followup/outbound.py, every outbound HTTP request: it stays
below the models, whose webhook URL field validates with it). Nothing here runs the
pipeline (an import-linter contract).
"""
