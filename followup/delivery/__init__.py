"""Delivery: what leaves the service, read from the alerts after the pipeline wrote them.

mailing.py is the e-mail outbox (digests, urgent notices, escalations; claimed, sent,
marked), digest.py what a digest says, webhooks.py the alert events to the clinics'
receivers (through followup/outbound.py, every outbound HTTP request: it stays below the
models, whose webhook URL field validates with it). Nothing here runs the pipeline (an
import-linter contract).
"""
