"""Django's own error pages (``handler400``, ``handler404``, ``handler500``) in the envelope."""

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, JsonResponse

from common.api import error_body


def bad_request(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    """Django's 400s outside DRF (a bad Host header, an oversized form) in the envelope."""
    if isinstance(exception, RequestDataTooBig):
        return JsonResponse(error_body("REQUEST_TOO_LARGE", "Request body too large."), status=413)
    return JsonResponse(error_body("BAD_REQUEST", "Bad request"), status=400)


def not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse(error_body("NOT_FOUND", "Not found"), status=404)


def server_error(request: HttpRequest) -> JsonResponse:
    return JsonResponse(error_body("SERVER_ERROR", "Internal server error"), status=500)
