"""What every API endpoint shares: the error envelope, the exception handler, permissions."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.http import Http404
from rest_framework import exceptions
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from common.availability import ReadModelUnavailable, WriteSideUnavailable


class RequestTooLarge(exceptions.APIException):
    """A body over ``settings.DATA_UPLOAD_MAX_MEMORY_SIZE`` (Django stops reading there)."""

    status_code = 413
    default_detail = "Request body too large."
    default_code = "request_too_large"


# DRF exception class -> stable error code (the most specific class first).
_CODES: list[tuple[type[exceptions.APIException], str]] = [
    (RequestTooLarge, "REQUEST_TOO_LARGE"),
    (exceptions.ValidationError, "VALIDATION_ERROR"),
    (exceptions.ParseError, "VALIDATION_ERROR"),
    (exceptions.NotAuthenticated, "NOT_AUTHENTICATED"),
    (exceptions.AuthenticationFailed, "AUTHENTICATION_FAILED"),
    (exceptions.PermissionDenied, "PERMISSION_DENIED"),
    (exceptions.NotFound, "NOT_FOUND"),
    (exceptions.MethodNotAllowed, "METHOD_NOT_ALLOWED"),
    (exceptions.NotAcceptable, "NOT_ACCEPTABLE"),
    (exceptions.UnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE"),
    (exceptions.Throttled, "THROTTLED"),
    (WriteSideUnavailable, "WRITE_SIDE_UNAVAILABLE"),
    (ReadModelUnavailable, "READ_MODEL_UNAVAILABLE"),
]


# An error body never grows with the input: at most this many messages in
# ``details``, and no key or message longer than MAX_ERROR_TEXT characters.
MAX_ERROR_MESSAGES = 10
MAX_ERROR_TEXT = 200


def _clip(text: Any) -> Any:
    """A key or message cut to MAX_ERROR_TEXT characters (an int key stays as it is)."""
    if isinstance(text, str) and len(text) > MAX_ERROR_TEXT:
        return text[: MAX_ERROR_TEXT - 1] + "…"
    return text


def capped_details(details: Any) -> tuple[Any, int]:
    """DRF's error details keeping only the first MAX_ERROR_MESSAGES messages, clipped;
    and how many messages there were in all.

    Details echo the input's shape: one entry per unknown field (named by the client,
    at any length), one per bad line, messages that quote the value. Without a cap a
    large bad request got an answer larger still. The shape is kept (field ->
    messages, nested for lines), so the kept entries read as before.
    """
    total = 0

    def cap(node: Any) -> Any:
        """``node`` with what still fits, or None when nothing of it does."""
        nonlocal total
        if isinstance(node, dict):
            kept = {_clip(key): cap(value) for key, value in node.items()}
            return {key: value for key, value in kept.items() if value is not None} or None
        if isinstance(node, list):
            return [value for value in map(cap, node) if value is not None] or None
        total += 1
        return _clip(str(node)) if total <= MAX_ERROR_MESSAGES else None

    kept = cap(details)
    return (kept if kept is not None else {}), total


def error_body(code: str, error: str, details: Any = None) -> dict[str, Any]:
    """The one error shape: ``{"success": false, "error", "code"}`` (+ ``details``)."""
    body: dict[str, Any] = {"success": False, "error": error, "code": code}
    if details is not None:
        body["details"] = details
    return body


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, with every answer in the error envelope and a stable code."""
    # The Django exceptions DRF answers, as the DRF exceptions it answers them with.
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, RequestDataTooBig):
        # Django's answer would be a bare 400 page; the size is the client's to fix.
        exc = RequestTooLarge()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    code = next((code for cls, code in _CODES if isinstance(exc, cls)), "ERROR")
    if isinstance(exc, exceptions.ValidationError):
        details, count = capped_details(response.data)
        error = "Invalid input"
        if count > MAX_ERROR_MESSAGES:
            error += f": {count} problems, the first {MAX_ERROR_MESSAGES} in details"
        response.data = error_body(code, error, details=details)
    else:
        # Clipped: some messages quote the request (a 415 names its content type).
        response.data = error_body(code, _clip(str(exc.detail)))
    return response


def error_response(code: str, error: str, http_status: int) -> Response:
    return Response(error_body(code, error), status=http_status)


def has_perm(perm: str) -> type[BasePermission]:
    """A permission class requiring the Django permission ``perm`` (superusers have all)."""

    class HasPerm(BasePermission):
        message = f"You do not have the {perm} permission."

        def has_permission(self, request: Request, view: Any) -> bool:
            return bool(request.user and request.user.has_perm(perm))

    HasPerm.__name__ = f"HasPerm[{perm}]"
    return HasPerm
