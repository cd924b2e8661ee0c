"""`Idempotency-Key` on every POST: the first answer is stored and replayed for a retry.

The same key with another body is a 422. A concurrent duplicate waits for the first
to commit and then gets its answer: never a second record. Answers are kept at
least 24 hours (the sweep removes them after RETENTION).
"""

import hashlib
import json
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from rest_framework import status
from rest_framework.exceptions import APIException
from rest_framework.response import Response

from patients.models import IdempotencyKey

RETENTION = timedelta(hours=48)
HEADER = "Idempotency-Key"


class KeyReused(APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_detail = "This Idempotency-Key was used for a different request."


class Replay(Exception):
    def __init__(self, record: IdempotencyKey):
        self.record = record

    def response(self) -> Response:
        response = Response(self.record.response_body, status=self.record.status_code)
        response["Idempotent-Replayed"] = "true"
        return response


def owner_of(request) -> str:
    client = getattr(request.user, "client", None)
    return f"client:{client.pk}" if client else f"user:{request.user.pk}"


def fingerprint(request) -> str:
    body = json.dumps(request.data, sort_keys=True, default=str)
    return hashlib.sha256(f"{request.method} {request.path}\n{body}".encode()).hexdigest()


def begin(request) -> IdempotencyKey | None:
    """Claim the key for this request, or raise Replay / KeyReused."""
    key = request.headers.get(HEADER)
    if request.method != "POST" or not key:
        return None
    owner, digest = owner_of(request), fingerprint(request)
    try:
        with transaction.atomic():  # a savepoint: the request's transaction survives a clash
            return IdempotencyKey.objects.create(owner=owner, key=key[:255], request_hash=digest)
    except IntegrityError:
        pass  # the first request with this key has committed: answer as it did
    record = IdempotencyKey.objects.get(owner=owner, key=key[:255])
    if record.request_hash != digest:
        raise KeyReused()
    raise Replay(record)


def finish(record: IdempotencyKey, response) -> None:
    """Keep the answer (in the request's transaction: a failed request keeps nothing)."""
    record.status_code = response.status_code
    record.response_body = response.data
    record.save(update_fields=["status_code", "response_body"])


def forget_old(now: datetime) -> int:
    return IdempotencyKey.objects.filter(created_at__lt=now - RETENTION).delete()[0]
