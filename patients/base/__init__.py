"""The base every app stands on: the API's base (`api/`: viewset, authentication,
permissions, throttling, idempotency, bulk, fields, parsers, errors, read audit), the
admin's clinic scoping and key handling (`admin/`), the audit context (`audit.py`) and the
request middleware (`middleware.py`). It imports `patients` only, never the apps above."""
