"""Project-level views: health and JSON error pages."""

import logging

from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse

from config.api import error_body
from orders_read.status import all_statuses

logger = logging.getLogger(__name__)


def health(request: HttpRequest) -> JsonResponse:
    """200 when the database answers (503 when not), with each projection's lag."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        projections = {status.name: status.as_dict() for status in all_statuses()}
    except DatabaseError:
        logger.exception("Health check: database unavailable")
        return JsonResponse({"status": "unavailable", "database": "error"}, status=503)
    return JsonResponse({"status": "ok", "database": "ok", "projections": projections})


def not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse(error_body("NOT_FOUND", "Not found"), status=404)


def server_error(request: HttpRequest) -> JsonResponse:
    return JsonResponse(error_body("SERVER_ERROR", "Internal server error"), status=500)
