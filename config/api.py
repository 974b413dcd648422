"""What every API endpoint shares: the error envelope, permissions, the actor."""

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

from orders_write.commands import Actor


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
]


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
        response.data = error_body(code, "Invalid input", details=response.data)
    else:
        response.data = error_body(code, str(exc.detail))
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


def actor_for(request: Request, *, idempotency_key: str | None = None) -> Actor:
    """The authenticated user as the command's actor; never a field of the body.

    ``request.request_id`` is set by ``config.request_id.RequestIdMiddleware`` on the
    ``HttpRequest``; DRF's ``Request`` proxies the attribute.
    """
    return Actor.from_user(
        request.user,
        request_id=getattr(request, "request_id", ""),
        idempotency_key=idempotency_key,
    )
