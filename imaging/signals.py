"""What imaging announces to the apps that stand on it (it imports none of them).

`bulk_create` and `bulk_update` send no model signals, so a bulk write says itself which
surgeries its exams changed: the follow-up domain listens (followup/signals.py).
"""

from django.dispatch import Signal

# Sent by a bulk write of exams, in its transaction, with `surgery_ids`: the surgeries
# the written exams are attached to, or were attached to before the write.
exams_written_in_bulk = Signal()
