"""The command endpoints in OpenAPI: what each answers, with which codes and headers.

Documentation only: the handlers build these answers (``CommandResult.data``); the
serializers here describe them and are never used to render.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers

from common.openapi import (
    REQUEST_ID_REQUEST_HEADER,
    REQUEST_ID_RESPONSE_HEADER,
    REQUEST_TOO_LARGE,
    UNSUPPORTED_MEDIA_TYPE,
    api_responses,
    error_response,
    success_response,
)
from orders_write.errors import ErrorCode
from orders_write.idempotency import KEY_HEADER, KEY_PATTERN, MAX_KEY_LENGTH, REPLAYED_HEADER
from orders_write.models import OrderStatus
from orders_write.serializers import ApproveOrderInput, CancelOrderInput, PlaceOrderInput

E = ErrorCode


class StrictSerializerSchema(OpenApiSerializerExtension):
    """Input serializers refuse unknown fields (a 400): the schema says so."""

    target_class = "orders_write.serializers.StrictSerializer"
    match_subclasses = True

    def map_serializer(self, auto_schema: Any, direction: Any) -> dict[str, Any]:
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        return {**schema, "additionalProperties": False}


class _CommandData(serializers.Serializer):
    order_id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=OrderStatus.choices)
    version = serializers.IntegerField(
        help_text="The order's stream version after this command: pass it as `min_version` "
        "to `GET /orders/dashboard/{order_id}` to read your own write."
    )


class PlacedOrder(_CommandData):
    customer_id = serializers.IntegerField()
    item_count = serializers.IntegerField(help_text="Order lines.")
    total_cents = serializers.IntegerField()
    formatted_total = serializers.CharField()
    placed_at = serializers.DateTimeField()
    _estimated_fields = serializers.BooleanField(
        help_text="Always `true`: these fields come from the command, not yet from the "
        "read model (it catches up right after COMMIT)."
    )


class ApprovedOrder(_CommandData):
    approved_by = serializers.CharField(help_text="The authenticated user's username.")
    approved_at = serializers.DateTimeField()


class CancelledOrder(_CommandData):
    reason = serializers.CharField()
    cancelled_by = serializers.CharField(help_text="The authenticated user's username.")
    cancelled_at = serializers.DateTimeField()


IDEMPOTENCY_KEY = OpenApiParameter(
    KEY_HEADER,
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    pattern=KEY_PATTERN,
    description=f"Optional, and recommended for any retry: a unique key per intended "
    f"command (e.g. a UUID), 1 to {MAX_KEY_LENGTH} visible ASCII characters. A retry "
    f"with the same key and the same request gets the first answer again (status and "
    f"body, with `{REPLAYED_HEADER}: true`) and writes nothing; the same key with a "
    "different request is 422 `IDEMPOTENCY_KEY_REUSED`. Keys are per user and kept 24 h.",
)


def _replayed_header(statuses: list[int]) -> OpenApiParameter:
    return OpenApiParameter(
        REPLAYED_HEADER,
        OpenApiTypes.STR,
        OpenApiParameter.HEADER,
        enum=["true"],
        response=statuses,
        description="Present when this answer is the stored answer to an earlier request "
        f"with the same `{KEY_HEADER}`.",
    )


COMMAND_VALIDATION_ERROR = error_response(
    "CommandValidationError",
    [E.VALIDATION_ERROR, E.IDEMPOTENCY_KEY_INVALID],
    "Malformed input: not JSON, wrong types, missing or unknown fields (`details` per "
    f"field), or a malformed `{KEY_HEADER}`. Nothing was written, nor stored under the key.",
)
ORDER_NOT_FOUND = error_response(
    "OrderNotFoundError", [E.ORDER_NOT_FOUND], "No order with this id (or not a UUID)."
)
TRANSITION_CONFLICT = error_response(
    "TransitionConflictError",
    [E.INVALID_TRANSITION, E.IDEMPOTENCY_KEY_IN_PROGRESS],
    "`INVALID_TRANSITION`: the order's status does not allow this. "
    f"`IDEMPOTENCY_KEY_IN_PROGRESS`: a request with this `{KEY_HEADER}` is still running.",
)
_KEY_REUSED = f"`{E.IDEMPOTENCY_KEY_REUSED}`: this `{KEY_HEADER}` was used for another request."


def _command_schema(
    *,
    operation_id: str,
    summary: str,
    description: str,
    request: type[serializers.Serializer],
    success_status: int,
    success: object,
    by_status: dict[int, object],
    path_order_id: bool = True,
) -> extend_schema:
    replayable = [success_status, *(code for code in by_status if 404 <= code <= 422)]
    order_id = [
        OpenApiParameter(
            "order_id",
            OpenApiTypes.UUID,
            OpenApiParameter.PATH,
            description="The order's id (a UUID; anything else is 404 `ORDER_NOT_FOUND`).",
        )
    ]
    return extend_schema(
        operation_id=operation_id,
        summary=summary,
        description=description,
        tags=["commands"],
        request=request,
        parameters=[
            *(order_id if path_order_id else []),
            IDEMPOTENCY_KEY,
            REQUEST_ID_REQUEST_HEADER,
            REQUEST_ID_RESPONSE_HEADER,
            _replayed_header(sorted(replayable)),
        ],
        responses=api_responses(
            {
                success_status: success,
                400: COMMAND_VALIDATION_ERROR,
                413: REQUEST_TOO_LARGE,
                415: UNSUPPORTED_MEDIA_TYPE,
                **by_status,
            }
        ),
    )


place_order_schema = _command_schema(
    operation_id="place_order",
    summary="Place an order",
    description="Prices come from the catalog: a line's `price_cents` is optional and, if "
    "given, must equal the catalog price. One line per product (a product on two lines is "
    "refused with `DUPLICATE_PRODUCT`, never merged); 1 to 100 lines; quantities 1 to "
    "10,000; a total of at most $1,000,000.00. Needs `orders_write.add_order`.",
    request=PlaceOrderInput,
    path_order_id=False,
    success_status=201,
    success=success_response("PlaceOrderResponse", PlacedOrder(), "The order is placed."),
    by_status={
        409: error_response(
            "PlaceOrderConflictError",
            [E.IDEMPOTENCY_KEY_IN_PROGRESS],
            f"A request with this `{KEY_HEADER}` is still running: retry later.",
        ),
        422: error_response(
            "PlaceOrderRejectedError",
            [
                E.CUSTOMER_NOT_FOUND,
                E.ACCOUNT_SUSPENDED,
                E.PAYMENT_METHOD_INVALID,
                E.EMPTY_ORDER,
                E.TOO_MANY_LINES,
                E.DUPLICATE_PRODUCT,
                E.INVALID_QUANTITY,
                E.PRODUCT_NOT_FOUND,
                E.PRODUCT_UNAVAILABLE,
                E.PRICE_MISMATCH,
                E.ORDER_TOO_LARGE,
                E.IDEMPOTENCY_KEY_REUSED,
            ],
            "A business rule refused the order; nothing was written. " + _KEY_REUSED,
        ),
    },
)

approve_order_schema = _command_schema(
    operation_id="approve_order",
    summary="Approve a pending order",
    description="The approver is the authenticated user, never a body field (send `{}` or "
    "no body). Needs `orders_write.approve_order`.",
    request=ApproveOrderInput,
    success_status=200,
    success=success_response("ApproveOrderResponse", ApprovedOrder(), "The order is approved."),
    by_status={
        404: ORDER_NOT_FOUND,
        409: TRANSITION_CONFLICT,
        422: error_response("ApproveOrderRejectedError", [E.IDEMPOTENCY_KEY_REUSED], _KEY_REUSED),
    },
)

cancel_order_schema = _command_schema(
    operation_id="cancel_order",
    summary="Cancel a pending or approved order",
    description="A reason is required. The canceller is the authenticated user. Needs "
    "`orders_write.cancel_order`.",
    request=CancelOrderInput,
    success_status=200,
    success=success_response("CancelOrderResponse", CancelledOrder(), "The order is cancelled."),
    by_status={
        404: ORDER_NOT_FOUND,
        409: TRANSITION_CONFLICT,
        422: error_response(
            "CancelOrderRejectedError",
            [E.REASON_REQUIRED, E.IDEMPOTENCY_KEY_REUSED],
            "`REASON_REQUIRED`: a blank or missing reason. " + _KEY_REUSED,
        ),
    },
)
