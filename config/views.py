"""Project-level views: health and JSON error pages."""

import logging

from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import error_body
from config.openapi import (
    BAD_CREDENTIALS,
    REQUEST_ID_REQUEST_HEADER,
    REQUEST_ID_RESPONSE_HEADER,
)
from orders_read.engine.status import LAG_COUNT_LIMIT, all_statuses

logger = logging.getLogger(__name__)


class CheckpointSerializer(serializers.Serializer):
    transaction_id = serializers.IntegerField()
    position = serializers.IntegerField()


class ProjectionLagSerializer(serializers.Serializer):
    checkpoint = CheckpointSerializer()
    head_position = serializers.IntegerField()
    lag_events = serializers.IntegerField(
        help_text="Committed events the projection does not reflect yet, among the first "
        f"{LAG_COUNT_LIMIT:,} after the checkpoint."
    )
    lag_events_capped = serializers.BooleanField(
        help_text="True when more events follow the ones counted: the lag is at least lag_events."
    )
    lag_seconds = serializers.FloatField()
    dead_letters = serializers.IntegerField()


# Who may read the health details: whoever may read the read model may see how fresh it
# is. A load balancer asks anonymously and gets the status alone: the event count and
# the projections' lag say how busy the business is.
HEALTH_DETAILS_PERMISSION = "orders_read.view_ordersummary"


class HealthSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["ok"])
    # ["ok", "error"], not ["ok"]: status has that choice set, and one set under two
    # field names makes drf-spectacular warn.
    database = serializers.ChoiceField(
        choices=["ok", "error"], required=False, help_text=f"With `{HEALTH_DETAILS_PERMISSION}`."
    )
    projections = serializers.DictField(
        child=ProjectionLagSerializer(),
        required=False,
        help_text=f"With `{HEALTH_DETAILS_PERMISSION}`: each projection's catch-up lag "
        "behind the event log.",
    )


class UnavailableSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["unavailable"])
    database = serializers.ChoiceField(choices=["error"])


class HealthView(APIView):
    """200 when the database answers (503 when not); the details for those allowed them.

    Authentication runs lazily, after the database check: a token or a session is
    looked up in the database, and during an outage that lookup must end as the 503
    a monitor expects, not as a 500.
    """

    permission_classes = [AllowAny]

    def perform_authentication(self, request: Request) -> None:
        pass  # see the class docstring: ``request.user`` is read in ``get``

    @extend_schema(
        operation_id="health",
        summary="Health check",
        description=(
            "200 when the database answers, 503 when it does not. Anonymous callers (load "
            "balancers) get the status alone; a user with the "
            f"`{HEALTH_DETAILS_PERMISSION}` permission (token or session) also gets the "
            "database check and each projection's checkpoint, lag and dead letters. Bad "
            "credentials are a 401; missing ones are no error."
        ),
        tags=["health"],
        parameters=[REQUEST_ID_REQUEST_HEADER, REQUEST_ID_RESPONSE_HEADER],
        responses={
            200: HealthSerializer,
            401: BAD_CREDENTIALS,
            503: OpenApiResponse(
                UnavailableSerializer, description="The database does not answer."
            ),
        },
    )
    def get(self, request: Request) -> Response:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
                cursor.fetchone()
            if not request.user.has_perm(HEALTH_DETAILS_PERMISSION):
                return Response({"status": "ok"})
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
