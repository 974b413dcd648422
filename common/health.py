"""``/health``: the status for load balancers, details for the callers allowed them.

The view checks the database itself; what else the 200 says comes from the apps
(the read side: each projection's lag), which this package may not import. An app
registers each detail once, in its ``AppConfig.ready()``, as Django's signals and
django-health-check's plugins are connected: ``health.register(HealthDetail(...))``
with the detail's key, its schema and how to read it. The view and its OpenAPI
schema then list every registered detail, and adding one touches neither.

Who may read the details is the setting ``HEALTH_DETAILS_PERMISSION``: the status of
the read model tells how busy the business is.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import DatabaseError
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from common.availability import database_states
from common.openapi import (
    BAD_CREDENTIALS,
    REQUEST_ID_REQUEST_HEADER,
    REQUEST_ID_RESPONSE_HEADER,
)

logger = logging.getLogger(__name__)

HEALTH_DETAILS_PERMISSION: str = settings.HEALTH_DETAILS_PERMISSION


@dataclass(frozen=True)
class HealthDetail:
    """One key of the 200's details: its schema and how to read its value.

    ``read`` may query the database; a ``DatabaseError`` it raises makes the answer
    the 503, like the view's own check.
    """

    name: str
    # A new field each call (a serializer field belongs to one serializer).
    field: Callable[[], serializers.Field]
    read: Callable[[], Any]


_details: dict[str, HealthDetail] = {}


def register(detail: HealthDetail) -> None:
    """Add ``detail`` to the 200's details (again under the same name: replaced)."""
    _details[detail.name] = detail


class HealthSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["ok"])
    # ["ok", "error"], not ["ok"]: status has that choice set, and one set under two
    # field names makes drf-spectacular warn.
    database = serializers.ChoiceField(
        choices=["ok", "error"], required=False, help_text=f"With `{HEALTH_DETAILS_PERMISSION}`."
    )
    databases = serializers.DictField(
        child=serializers.ChoiceField(choices=["ok", "error"]),
        required=False,
        help_text='Each database by alias: "default" (the write side), "read" (the read model).',
    )

    def get_fields(self) -> dict[str, serializers.Field]:
        # The registered details, read when the schema is made (after every ``ready()``).
        fields = super().get_fields()
        for detail in _details.values():
            fields[detail.name] = detail.field()
        return fields


class UnavailableSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["unavailable"])
    database = serializers.ChoiceField(choices=["error"])
    databases = serializers.DictField(
        child=serializers.ChoiceField(choices=["ok", "error"]),
        required=False,
        help_text="Which database is down, by alias.",
    )


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
        # Each database by its alias: "default" (the write side), "read" (the read model's).
        databases = database_states()
        if "error" in databases.values():
            body = {"status": "unavailable", "database": "error", "databases": databases}
            return Response(body, status=503)
        try:
            if not request.user.has_perm(HEALTH_DETAILS_PERMISSION):
                return Response({"status": "ok"})
            details = {name: detail.read() for name, detail in _details.items()}
        except DatabaseError:
            logger.exception("Health check: database unavailable")
            return Response({"status": "unavailable", "database": "error"}, status=503)
        return Response({"status": "ok", "database": "ok", "databases": databases, **details})
