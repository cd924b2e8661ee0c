"""The caller's clinics for an API request (patients.access computes them once)."""

from rest_framework.request import Request

from patients.access import access_of


def readable_clinic_ids(request: Request) -> frozenset[int]:
    return access_of(request).readable


def writable_clinic_ids(request: Request) -> frozenset[int]:
    return access_of(request).writable
