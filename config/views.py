"""Project-level views: health and JSON error pages."""

import logging

from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.decorators import api_view, authentication_classes, permission_classes
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from config.api import error_body
from config.openapi import REQUEST_ID_REQUEST_HEADER, REQUEST_ID_RESPONSE_HEADER
from orders_read.engine.status import LAG_COUNT_LIMIT, all_statuses

logger = logging.getLogger(__name__)


class CheckpointSerializer(serializers.Serializer):
    transaction_id = serializers.IntegerField()
    position = serializers.IntegerField()


class ProjectionLagSerializer(serializers.Serializer):
    checkpoint = CheckpointSerializer()
    head_position = serializers.IntegerField()
    lag_events = serializers.IntegerField(
        help_text=f"Events committed after the checkpoint, counted up to {LAG_COUNT_LIMIT:,}."
    )
    lag_events_capped = serializers.BooleanField(
        help_text="True when more events than lag_events are behind (the count stopped)."
    )
    lag_seconds = serializers.FloatField()
    dead_letters = serializers.IntegerField()


class HealthSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["ok", "unavailable"])
    database = serializers.ChoiceField(choices=["ok", "error"])
    projections = serializers.DictField(
        child=ProjectionLagSerializer(),
        required=False,
        help_text="Each projection's catch-up lag behind the event log.",
    )


@extend_schema(
    operation_id="health",
    summary="Health check",
    description=(
        "200 when the database answers, 503 when it does not, with each projection's "
        "lag behind the event log. No authentication."
    ),
    tags=["health"],
    parameters=[REQUEST_ID_REQUEST_HEADER, REQUEST_ID_RESPONSE_HEADER],
    responses={
        200: HealthSerializer,
        503: OpenApiResponse(HealthSerializer, description="The database does not answer."),
    },
)
@api_view(["GET"])
@authentication_classes([])
@permission_classes([AllowAny])
def health(request: Request) -> Response:
    """200 when the database answers (503 when not), with each projection's lag."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        projections = {status.name: status.as_dict() for status in all_statuses()}
    except DatabaseError:
        logger.exception("Health check: database unavailable")
        return Response({"status": "unavailable", "database": "error"}, status=503)
    return Response({"status": "ok", "database": "ok", "projections": projections})


def bad_request(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    """Django's 400s outside DRF (a bad Host header, an oversized form) in the envelope."""
    if isinstance(exception, RequestDataTooBig):
        return JsonResponse(error_body("REQUEST_TOO_LARGE", "Request body too large."), status=413)
    return JsonResponse(error_body("BAD_REQUEST", "Bad request"), status=400)


def not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse(error_body("NOT_FOUND", "Not found"), status=404)


def server_error(request: HttpRequest) -> JsonResponse:
    return JsonResponse(error_body("SERVER_ERROR", "Internal server error"), status=500)
