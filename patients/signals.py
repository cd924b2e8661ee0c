"""What patients announce to the apps that stand on it (it imports none of them)."""

from django.dispatch import Signal

# Sent by the API and the admin when someone records or corrects a clinical event, in the
# request's transaction, with `event`: the follow-up plans its work-up at once (an emergency
# cannot wait for a worker), so the answer already shows it.
clinical_event_recorded = Signal()
