"""One handler maps domain errors and DRF errors to `{"detail", "code", "errors"}`."""

from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from incidents.exceptions import DomainError, InvalidTransition, ValidationFailed


def domain_error_payload(exc: DomainError) -> dict:
    payload = {"detail": exc.message, "code": exc.code}
    if isinstance(exc, ValidationFailed):
        payload["errors"] = exc.errors
    elif exc.field:
        payload["errors"] = {exc.field: [exc.message]}
    if isinstance(exc, InvalidTransition):
        payload["allowed"] = exc.allowed
        payload["current"] = exc.current
    return payload


def _first_message(detail) -> str:
    if isinstance(detail, dict):
        for key, value in detail.items():
            message = _first_message(value)
            return message if key == "non_field_errors" else f"{key}: {message}"
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    return str(detail)


def exception_handler(exc, context):
    if isinstance(exc, DomainError):
        return Response(domain_error_payload(exc), status=exc.http_status)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        response.data = {"detail": _first_message(exc.detail), "code": "invalid",
                         "errors": exc.detail if isinstance(exc.detail, dict) else
                         {"non_field_errors": exc.detail}}
    elif isinstance(exc, exceptions.APIException):
        response.data = {"detail": str(exc.detail), "code": exc.get_codes()
                         if isinstance(exc.get_codes(), str) else "error"}
        if isinstance(exc, exceptions.Throttled):
            response.status_code = status.HTTP_429_TOO_MANY_REQUESTS
    return response
