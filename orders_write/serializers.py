"""Input shaping for the command endpoints: types and presence only, no business rules."""

from collections.abc import Mapping
from typing import Any

from rest_framework import serializers

from orders_write.rules import check_line_count

MAX_ID = 2**63 - 1  # a bigint primary key; larger ids would overflow the database


class JSONIntegerField(serializers.IntegerField):
    """A JSON integer and nothing else.

    DRF's ``IntegerField`` also takes ``"2"``, ``2.0`` and ``"2.0"``; converting them
    hides a client's bug (and a float may not be the integer it looks like:
    ``1.0000000000000001`` parses as ``1.0``). ``true`` is an ``int`` in Python, so
    booleans are refused by name. Bounds stay ``min_value``/``max_value``.
    """

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return data


class StrictSerializer(serializers.Serializer):
    """Refuses fields it does not know, so a typo (or ``approved_by``) is never ignored."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({field: ["Unknown field."] for field in unknown})
        return super().to_internal_value(data)


class OrderLinesInput(serializers.ListSerializer):
    """An order's lines, counted before any line is validated.

    DRF validates every item of a list and reports each one's errors, so a 1 MB body
    of 30,000 bad lines cost seconds of CPU and a 3.6 MB answer before the line limit
    was ever looked at. The limit (a rule: ``check_line_count`` raises
    ``CommandRejected``, which the view answers) now comes first, so a list over it
    costs no more than parsing the JSON.
    """

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, list):
            check_line_count(len(data))
        return super().to_internal_value(data)


class OrderLineInput(StrictSerializer):
    class Meta:
        list_serializer_class = OrderLinesInput

    product_id = JSONIntegerField(min_value=1, max_value=MAX_ID)
    # Bounds are a business rule (INVALID_QUANTITY), checked by the handler.
    quantity = JSONIntegerField()
    price_cents = JSONIntegerField(required=False, allow_null=True, min_value=0, max_value=MAX_ID)


class PlaceOrderInput(StrictSerializer):
    customer_id = JSONIntegerField(min_value=1, max_value=MAX_ID)
    payment_method_id = JSONIntegerField(min_value=1, max_value=MAX_ID)
    # An empty list is the handler's EMPTY_ORDER, not a validation error.
    items = OrderLineInput(many=True, allow_empty=True)


class ApproveOrderInput(StrictSerializer):
    pass


class CancelOrderInput(StrictSerializer):
    # A blank or missing reason is the handler's REASON_REQUIRED.
    reason = serializers.CharField(required=False, allow_blank=True, max_length=1000, default="")
