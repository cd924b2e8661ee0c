"""One error shape: 400 bodies name each bad field; races on a unique key are 409."""

from django.db import IntegrityError
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
    return drf_exception_handler(exc, context)
