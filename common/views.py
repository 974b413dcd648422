"""Django's own error pages (``handler400``, ``handler404``, ``handler500``) and outages, in the
envelope."""

import logging
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse

from common.api import error_body
from common.availability import (
    DATABASE_UNAVAILABLE,
    ReadModelUnavailable,
    WriteSideUnavailable,
    write_side_unreachable,
)

logger = logging.getLogger(__name__)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    """Django's 400s outside DRF (a bad Host header, an oversized form) in the envelope."""
    if isinstance(exception, RequestDataTooBig):
        return JsonResponse(error_body("REQUEST_TOO_LARGE", "Request body too large."), status=413)
    return JsonResponse(error_body("BAD_REQUEST", "Bad request"), status=400)


def not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse(error_body("NOT_FOUND", "Not found"), status=404)


def server_error(request: HttpRequest) -> JsonResponse:
    return JsonResponse(error_body("SERVER_ERROR", "Internal server error"), status=500)


class DatabaseUnavailableMiddleware:
    """Pages outside the API (the admin, the login form, ``/dashboard/``) answer an outage
    with the same ``503`` as the API (``common.availability``), never a ``500``.

    The API's views name the side they touch themselves (its mixins). A Django
    view cannot say which side failed, so the side is read off the write database's
    connection (the write side is the default alias): a page reads its session and user
    there first, so if that connection is missing or dead the write side is down, and
    otherwise the read model is.
    """

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, DATABASE_UNAVAILABLE):
            return None
        unavailable = WriteSideUnavailable() if write_side_unreachable() else ReadModelUnavailable()
        logger.warning("%s on %s: %r", unavailable.default_code, request.path, exception)
        response = JsonResponse(
            error_body(unavailable.default_code.upper(), str(unavailable.detail)),
            status=unavailable.status_code,
        )
        response["Retry-After"] = "5"
        return response
