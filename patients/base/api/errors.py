"""One error shape: 400 bodies name each bad field; races on a unique key are 409; a
body over DATA_UPLOAD_MAX_MEMORY_SIZE is a 413 (Django alone would answer an HTML 400);
a database that could not finish the request (a deadlock twice, a lost connection) is a
503 with Retry-After (`unavailable`, answered by patients.base.middleware.RetryTransientErrors);
anything else the views do not catch is a 500 in the same shape, saying nothing of the
error (`SERVER_ERROR`, answered by followup.transient.server_error, Django's handler500:
the log has the traceback)."""

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.db import IntegrityError
from django.http import JsonResponse
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback


def exception_handler(exc, context):
    if isinstance(exc, IntegrityError):
        set_rollback()
        return Response(
            {"detail": "This conflicts with a record saved at the same time; retry the request."},
            status=status.HTTP_409_CONFLICT,
        )
    if isinstance(exc, RequestDataTooBig):
        return Response(
            {"detail": f"The request body is over {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes."},
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    if isinstance(exc, TooManyFieldsSent | TooManyFilesSent):
        return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
    return drf_exception_handler(exc, context)


def unavailable(detail: str, retry_after: int) -> JsonResponse:
    """A 503 in this shape; it is answered outside any view, hence not a DRF Response."""
    response = JsonResponse({"detail": detail}, status=status.HTTP_503_SERVICE_UNAVAILABLE)
    response["Retry-After"] = str(retry_after)
    return response


SERVER_ERROR = "Internal error: nothing was saved. It has been logged; retry later."
