"""The command endpoints: shape the input, dispatch a command, map the result to HTTP."""

from __future__ import annotations

import uuid

from rest_framework import status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import actor_for, error_response, has_perm
from orders_write.bus import dispatch
from orders_write.commands import ApproveOrder, CancelOrder, CommandResult, OrderLine, PlaceOrder
from orders_write.errors import ErrorCode
from orders_write.serializers import ApproveOrderInput, CancelOrderInput, PlaceOrderInput

# Rejections are 422 unless the code says otherwise.
HTTP_STATUS_FOR_CODE = {
    ErrorCode.VALIDATION_ERROR: status.HTTP_400_BAD_REQUEST,
    ErrorCode.ORDER_NOT_FOUND: status.HTTP_404_NOT_FOUND,
    ErrorCode.INVALID_TRANSITION: status.HTTP_409_CONFLICT,
    ErrorCode.NO_HANDLER: status.HTTP_500_INTERNAL_SERVER_ERROR,
}


def command_response(result: CommandResult, *, success_status: int) -> Response:
    if result.success:
        return Response({"success": True, "data": result.data}, status=success_status)
    return error_response(
        result.code,
        result.error,
        HTTP_STATUS_FOR_CODE.get(result.code, status.HTTP_422_UNPROCESSABLE_ENTITY),
    )


def order_not_found() -> Response:
    return error_response(ErrorCode.ORDER_NOT_FOUND, "Order not found", status.HTTP_404_NOT_FOUND)


def parse_order_id(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


class PlaceOrderApi(APIView):
    permission_classes = [IsAuthenticated, has_perm("orders_write.add_order")]

    def post(self, request: Request) -> Response:
        serializer = PlaceOrderInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        command = PlaceOrder(
            customer_id=data["customer_id"],
            payment_method_id=data["payment_method_id"],
            items=tuple(OrderLine(**line) for line in data["items"]),
        )
        result = dispatch(command, actor=actor_for(request))
        if result.success:
            # The seed's strategy 1: enough for the UI to show the order at once,
            # marked as estimated until the read model reflects this version.
            result.data["_estimated_fields"] = True
        return command_response(result, success_status=status.HTTP_201_CREATED)


class ApproveOrderApi(APIView):
    permission_classes = [IsAuthenticated, has_perm("orders_write.approve_order")]

    def post(self, request: Request, order_id: str) -> Response:
        ApproveOrderInput(data=request.data).is_valid(raise_exception=True)
        parsed_id = parse_order_id(order_id)
        if parsed_id is None:
            return order_not_found()
        result = dispatch(ApproveOrder(order_id=parsed_id), actor=actor_for(request))
        return command_response(result, success_status=status.HTTP_200_OK)


class CancelOrderApi(APIView):
    permission_classes = [IsAuthenticated, has_perm("orders_write.cancel_order")]

    def post(self, request: Request, order_id: str) -> Response:
        serializer = CancelOrderInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        parsed_id = parse_order_id(order_id)
        if parsed_id is None:
            return order_not_found()
        command = CancelOrder(order_id=parsed_id, reason=serializer.validated_data["reason"])
        result = dispatch(command, actor=actor_for(request))
        return command_response(result, success_status=status.HTTP_200_OK)
