"""The command endpoints: shape the input, dispatch a command, map the result to HTTP.

With an ``Idempotency-Key`` header, the command runs in one transaction with the key
(``orders_write.idempotency``): the answer is stored before COMMIT and a retry gets
it back. Only answers from a dispatched command are stored (2xx and rule refusals);
malformed input (400, 413, 415, and an ``items`` list over the line limit, refused
before its lines are read) never reaches the command and a retry runs again.
"""

from __future__ import annotations

import uuid

from django.db import transaction
from rest_framework import status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from common.api import error_response, has_perm
from common.availability import WritesTheWriteSide
from orders_write import idempotency
from orders_write.bus import dispatch
from orders_write.commands import (
    Actor,
    ApproveOrder,
    CancelOrder,
    CommandResult,
    OrderLine,
    PlaceOrder,
)
from orders_write.errors import CommandRejected, ErrorCode
from orders_write.openapi import approve_order_schema, cancel_order_schema, place_order_schema
from orders_write.serializers import ApproveOrderInput, CancelOrderInput, PlaceOrderInput

# Rejections are 422 unless the code says otherwise.
HTTP_STATUS_FOR_CODE = {
    ErrorCode.VALIDATION_ERROR: status.HTTP_400_BAD_REQUEST,
    ErrorCode.ORDER_NOT_FOUND: status.HTTP_404_NOT_FOUND,
    ErrorCode.INVALID_TRANSITION: status.HTTP_409_CONFLICT,
    ErrorCode.NO_HANDLER: status.HTTP_500_INTERNAL_SERVER_ERROR,
    ErrorCode.IDEMPOTENCY_KEY_INVALID: status.HTTP_400_BAD_REQUEST,
    ErrorCode.IDEMPOTENCY_KEY_REUSED: status.HTTP_422_UNPROCESSABLE_ENTITY,
    ErrorCode.IDEMPOTENCY_KEY_IN_PROGRESS: status.HTTP_409_CONFLICT,
}


def command_response(result: CommandResult, *, success_status: int) -> Response:
    if result.success:
        return Response({"success": True, "data": result.data}, status=success_status)
    return code_response(result.code, result.error)


def code_response(code: ErrorCode, error: str) -> Response:
    return error_response(
        code, error, HTTP_STATUS_FOR_CODE.get(code, status.HTTP_422_UNPROCESSABLE_ENTITY)
    )


def order_not_found() -> Response:
    return error_response(ErrorCode.ORDER_NOT_FOUND, "Order not found", status.HTTP_404_NOT_FOUND)


def actor_for(request: Request, *, idempotency_key: str | None = None) -> Actor:
    """The authenticated user as the command's actor; never a field of the body.

    ``request.request_id`` is set by ``common.request_id.RequestIdMiddleware`` on the
    ``HttpRequest``; DRF's ``Request`` proxies the attribute.
    """
    return Actor.from_user(
        request.user,
        request_id=getattr(request, "request_id", ""),
        idempotency_key=idempotency_key,
    )


def parse_order_id(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


class CommandApi(WritesTheWriteSide, APIView):
    """Dispatches one command per request, idempotently when the client sends a key."""

    success_status = status.HTTP_200_OK

    def execute(self, request: Request, command: object) -> Response:
        try:
            key = idempotency.parse_key(request.headers.get(idempotency.KEY_HEADER))
        except idempotency.InvalidKey as exc:
            return code_response(ErrorCode.IDEMPOTENCY_KEY_INVALID, str(exc))
        actor = actor_for(request, idempotency_key=key)
        if key is None:
            return self.run(command, actor)

        fingerprint = idempotency.request_fingerprint(
            method=request.method, path=request.path, body=request.data, actor_id=actor.user_id
        )
        with transaction.atomic():
            try:
                claimed = idempotency.claim(user_id=actor.user_id, key=key, fingerprint=fingerprint)
            except idempotency.KeyReused as exc:
                return code_response(ErrorCode.IDEMPOTENCY_KEY_REUSED, str(exc))
            except idempotency.KeyInProgress as exc:
                return code_response(ErrorCode.IDEMPOTENCY_KEY_IN_PROGRESS, str(exc))
            if isinstance(claimed, idempotency.StoredResponse):
                return Response(
                    claimed.body,
                    status=claimed.status,
                    headers={idempotency.REPLAYED_HEADER: "true"},
                )
            # The handler's own transaction is a savepoint in this one: a rule
            # refusal rolls back only its writes, and the refusal is stored too.
            response = self.run(command, actor)
            if response.status_code >= 500:
                # Never store a server error: drop the key with everything else.
                transaction.set_rollback(True)
            else:
                idempotency.record_response(
                    claimed, status=response.status_code, body=response.data
                )
            return response

    def run(self, command: object, actor: Actor) -> Response:
        return command_response(dispatch(command, actor=actor), success_status=self.success_status)


class PlaceOrderApi(CommandApi):
    permission_classes = [IsAuthenticated, has_perm("orders_write.add_order")]
    success_status = status.HTTP_201_CREATED

    @place_order_schema
    def post(self, request: Request) -> Response:
        serializer = PlaceOrderInput(data=request.data)
        try:
            serializer.is_valid(raise_exception=True)
        except CommandRejected as refusal:  # too many lines, counted before they are read
            return code_response(refusal.code, refusal.message)
        data = serializer.validated_data
        command = PlaceOrder(
            customer_id=data["customer_id"],
            payment_method_id=data["payment_method_id"],
            items=tuple(OrderLine(**line) for line in data["items"]),
        )
        return self.execute(request, command)

    def run(self, command: object, actor: Actor) -> Response:
        result = dispatch(command, actor=actor)
        if result.success:
            # The optimistic response: enough for the UI to show the order at once,
            # marked as estimated until the read model reflects this version.
            result.data["_estimated_fields"] = True
        return command_response(result, success_status=self.success_status)


class ApproveOrderApi(CommandApi):
    permission_classes = [IsAuthenticated, has_perm("orders_write.approve_order")]

    @approve_order_schema
    def post(self, request: Request, order_id: str) -> Response:
        ApproveOrderInput(data=request.data).is_valid(raise_exception=True)
        parsed_id = parse_order_id(order_id)
        if parsed_id is None:
            return order_not_found()
        return self.execute(request, ApproveOrder(order_id=parsed_id))


class CancelOrderApi(CommandApi):
    permission_classes = [IsAuthenticated, has_perm("orders_write.cancel_order")]

    @cancel_order_schema
    def post(self, request: Request, order_id: str) -> Response:
        serializer = CancelOrderInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        parsed_id = parse_order_id(order_id)
        if parsed_id is None:
            return order_not_found()
        command = CancelOrder(order_id=parsed_id, reason=serializer.validated_data["reason"])
        return self.execute(request, command)
