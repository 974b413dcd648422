"""OpenAPI (drf-spectacular) pieces every endpoint shares: the envelopes, errors, headers.

Each error response is its own component with the exact ``code`` values that status
can carry on that endpoint, so a client (and the fuzz test) can rely on the list.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, inline_serializer
from rest_framework import serializers

from common.api import MAX_ERROR_MESSAGES
from common.request_id import MAX_REQUEST_ID_LENGTH, REQUEST_ID_HEADER


def error_response(name: str, codes: Sequence[str], description: str) -> OpenApiResponse:
    """The error envelope, as a component named ``name`` whose ``code`` is one of ``codes``."""
    return OpenApiResponse(
        response=inline_serializer(
            name=name,
            fields={
                "success": serializers.BooleanField(help_text="Always `false`."),
                "error": serializers.CharField(help_text="A message for people."),
                "code": serializers.ChoiceField(
                    choices=[(code, code) for code in codes],
                    help_text="A stable code for programs: match on this.",
                ),
                "details": serializers.DictField(
                    required=False,
                    help_text="Malformed input only: the messages per field (the first "
                    f"{MAX_ERROR_MESSAGES}; `error` then says how many there were).",
                ),
            },
        ),
        description=description,
    )


def success_response(name: str, data: serializers.Serializer, description: str) -> OpenApiResponse:
    """The success envelope ``{"success": true, "data": ...}`` as a component."""
    return OpenApiResponse(
        response=inline_serializer(
            name=name,
            fields={"success": serializers.BooleanField(help_text="Always `true`."), "data": data},
        ),
        description=description,
    )


NOT_AUTHENTICATED = error_response(
    "AuthenticationError",
    ["NOT_AUTHENTICATED", "AUTHENTICATION_FAILED"],
    "No credentials, or bad ones.",
)
# For an endpoint that also answers anonymous callers: only bad credentials are an error.
BAD_CREDENTIALS = error_response(
    "BadCredentialsError", ["AUTHENTICATION_FAILED"], "Bad credentials (a wrong token)."
)
PERMISSION_DENIED = error_response(
    "PermissionDeniedError",
    ["PERMISSION_DENIED"],
    "The user lacks this endpoint's permission.",
)
REQUEST_TOO_LARGE = error_response(
    "RequestTooLargeError",
    ["REQUEST_TOO_LARGE"],
    "The body is over the size limit (1 MiB). Nothing was written.",
)
UNSUPPORTED_MEDIA_TYPE = error_response(
    "UnsupportedMediaTypeError",
    ["UNSUPPORTED_MEDIA_TYPE"],
    "A body that is not `application/json`, or names a `charset` other than `utf-8`. "
    "Nothing was written.",
)
QUERY_VALIDATION_ERROR = error_response(
    "QueryValidationError",
    ["VALIDATION_ERROR"],
    "A query parameter has a bad value (`details` says which).",
)
NOT_FOUND = error_response("NotFoundError", ["NOT_FOUND"], "No such row or path.")

# Sent on every response.
REQUEST_ID_RESPONSE_HEADER = OpenApiParameter(
    REQUEST_ID_HEADER,
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    response=True,
    description="The request's id: the client's, if sane, or one the server made. "
    "Also on the server's log lines and in the metadata of the events the request appended.",
)
REQUEST_ID_REQUEST_HEADER = OpenApiParameter(
    REQUEST_ID_HEADER,
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description=f"Optional: your own id for the request (1 to {MAX_REQUEST_ID_LENGTH} "
    "letters, digits or `._:@+=/-`); anything else is replaced by a new id.",
)


def api_responses(by_status: dict[int, Any]) -> dict[int, Any]:
    """``by_status`` plus the answers every authenticated endpoint can give (401, 403)."""
    return dict(sorted({401: NOT_AUTHENTICATED, 403: PERMISSION_DENIED, **by_status}.items()))


def strip_trailing_slashes(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """Postprocessing hook: every path works with or without a trailing slash; the
    schema shows each once, as the README writes it (``/orders``, not ``/orders/``)."""
    result["paths"] = {
        (path.rstrip("/") or "/"): item for path, item in result.get("paths", {}).items()
    }
    return result


def allow_empty_string_queries(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """Postprocessing hook: a string query parameter sent empty (``?status=``) is the
    same as not sent (django-filter's convention, and DRF's for ``cursor``); say so."""
    for item in result.get("paths", {}).values():
        for operation in item.values():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "query" and parameter["schema"].get("type") == "string":
                    parameter["allowEmptyValue"] = True
    return result
