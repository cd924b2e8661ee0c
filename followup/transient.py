"""A database error that is nobody's fault answers 503, never Django's HTML 500.

PostgreSQL aborts a transaction to break a deadlock (40P01) or a serialization failure
(40001), and a restart cuts every connection. The request's transaction was rolled
back, so the view can simply run again; if it fails again, the client is told to retry
later. Writers take their locks in one order (patients.locks), so a deadlock is rare;
this is the net under it.
"""

import enum
import logging

from django.core.exceptions import RequestDataTooBig
from django.db import Error, InterfaceError, connection, transaction
from django.http import HttpResponse, JsonResponse
from django.http.request import RawPostDataException
from django.views import defaults
from psycopg import errors as pg_errors

from patients.base.api.errors import SERVER_ERROR, unavailable
from patients.base.middleware import route_of

from .fhir.bundles import outcome_answer
from .fhir.bundles import unavailable as fhir_unavailable

log = logging.getLogger(__name__)


class Failure(enum.Enum):
    """Why the database could not finish a request, and what the client is told."""

    BUSY = (
        "The database aborted this request twice to resolve a conflict with concurrent "
        "work; nothing was saved. Retry the request."
    )
    LOST = "The database is unavailable (restarting?); nothing was saved. Retry the request."
    COMMIT_LOST = (
        "The database connection was lost while saving: the request may have been saved. "
        "Retry it with the same Idempotency-Key to get its answer without saving it twice."
    )


RETRY_AFTER = {Failure.BUSY: 1, Failure.LOST: 5, Failure.COMMIT_LOST: 5}
# PostgreSQL rolled the whole transaction back: running the view again is safe.
ROLLED_BACK = (pg_errors.DeadlockDetected, pg_errors.SerializationFailure)


def failure_of(error: Exception, ran: bool) -> Failure | None:
    """`ran`: the view had returned, so the error came from the COMMIT."""
    if isinstance(error.__cause__, ROLLED_BACK):
        return Failure.BUSY
    if _connection_lost(error):
        return Failure.COMMIT_LOST if ran else Failure.LOST
    return None


# The server ended the connection (57P01 in a restart), cannot take it yet (57P03), or
# the network did (08...). psycopg notices a closed socket only at the next query.
ENDED = ("08", "57P01", "57P02", "57P03")


def _connection_lost(error: Exception) -> bool:
    if isinstance(error, InterfaceError):  # Django: "connection already closed"
        return True
    cause = error.__cause__
    sqlstate = getattr(cause, "sqlstate", None) or ""
    if sqlstate.startswith(ENDED):
        return True
    # Refused, reset, "server closed the connection unexpectedly": no SQLSTATE at all.
    return isinstance(cause, pg_errors.OperationalError) and not sqlstate


class RetryTransientErrors:
    """Runs each view in the request's transaction (ATOMIC_REQUESTS) itself, to run it a
    second time, in a fresh transaction, when the database aborted the first: a deadlock,
    a serialization failure, or a connection lost before the commit. If the second fails
    too, or the connection was lost while committing (it may have committed: never run it
    twice), the answer is a 503 with Retry-After, in the shape of the API, of FHIR, or
    plain text for the admin: never Django's HTML 500. Other errors are raised as before.

    Last in MIDDLEWARE: every other middleware's `process_view` (CSRF) has run before it
    calls the view. The body is read once and kept, so the second run reads it again.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view, args, kwargs):
        if not _atomic(view):
            return None  # a view that opted out runs as Django runs it
        attempts = 2 if _body_kept(request) else 1
        for attempt in range(1, attempts + 1):
            ran = False
            try:
                with transaction.atomic():
                    response = view(request, *args, **kwargs)
                    ran = True
                return response
            except Error as error:
                failure = failure_of(error, ran)
                if failure is None:
                    raise
                again = attempt < attempts and failure is not Failure.COMMIT_LOST
                _log_failure(request, error, failure, attempt, again)
                if failure is not Failure.BUSY:
                    connection.close()  # the next query connects again
                if not again:
                    return _unavailable(request, failure)


def _atomic(view) -> bool:
    default = connection.settings_dict
    return default["ATOMIC_REQUESTS"] and connection.alias not in getattr(
        view, "_non_atomic_requests", set()
    )


def _body_kept(request) -> bool:
    try:
        request.body  # noqa: B018 (read once and kept on the request)
    except RawPostDataException:  # already parsed by a middleware (CSRF): kept as POST
        return hasattr(request, "_post")
    except RequestDataTooBig:  # refused by the view anyway
        return False
    return True


def _log_failure(request, error, failure: Failure, attempt: int, again: bool) -> None:
    # No message text: a database error's DETAIL can quote a row's values.
    cause = error.__cause__ or error
    log.warning(
        "transient database error (%s, SQLSTATE %s) in %s %s, attempt %d: %s",
        type(cause).__name__,
        getattr(cause, "sqlstate", None),
        request.method,
        route_of(request),
        attempt,
        "running it again" if again else f"answered 503 ({failure.name})",
    )


def _unavailable(request, failure: Failure) -> HttpResponse:
    detail, retry_after = failure.value, RETRY_AFTER[failure]
    if request.path.startswith("/api/"):
        return unavailable(detail, retry_after)
    if request.path.startswith("/fhir/"):
        return fhir_unavailable(detail, retry_after)
    response = HttpResponse(detail, status=503, content_type="text/plain; charset=utf-8")
    response["Retry-After"] = str(retry_after)
    return response


def server_error(request, *args, **kwargs):
    """handler500 (followup/urls.py): under /api/ a JSON body, under /fhir/ an
    OperationOutcome, elsewhere Django's page. Never the error's text: it can quote a
    row's values. Django has rolled the request's transaction back and logged it. Here,
    beside the 503s, because it too answers outside any view, in the shape of each part
    of the site (the API's errors sit below FHIR, which renders them)."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": SERVER_ERROR}, status=500)
    if request.path.startswith("/fhir/"):
        return outcome_answer(500, "exception", SERVER_ERROR)
    return defaults.server_error(request, *args, **kwargs)
