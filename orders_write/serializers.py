"""Input shaping for the command endpoints: types and presence only, no business rules."""

from collections.abc import Mapping
from typing import Any

from rest_framework import serializers

MAX_ID = 2**63 - 1  # a bigint primary key; larger ids would overflow the database


class StrictSerializer(serializers.Serializer):
    """Refuses fields it does not know, so a typo (or ``approved_by``) is never ignored."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({field: ["Unknown field."] for field in unknown})
        return super().to_internal_value(data)


class OrderLineInput(StrictSerializer):
    product_id = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    # Bounds are a business rule (INVALID_QUANTITY), checked by the handler.
    quantity = serializers.IntegerField()
    price_cents = serializers.IntegerField(
        required=False, allow_null=True, min_value=0, max_value=MAX_ID
    )


class PlaceOrderInput(StrictSerializer):
    customer_id = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    payment_method_id = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    # An empty list is the handler's EMPTY_ORDER, not a validation error.
    items = OrderLineInput(many=True, allow_empty=True)


class ApproveOrderInput(StrictSerializer):
    pass


class CancelOrderInput(StrictSerializer):
    # A blank or missing reason is the handler's REASON_REQUIRED.
    reason = serializers.CharField(required=False, allow_blank=True, max_length=1000, default="")
