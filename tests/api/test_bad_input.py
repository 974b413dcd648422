"""Every kind of bad input gets a 4xx in the error envelope and writes nothing.

One table: each row is a request built from a good one (a valid order body, an
existing order) and the status and code it must get. Rule rejections (422) are
also covered one by one in test_commands_api.py; here they stand beside the
malformed ones so the whole contract is in one place.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.conf import settings

from orders_read.models import OrderSummary
from orders_write.models import Event, IdempotencyKey, Order, OrderItem
from orders_write.rules import MAX_LINES_PER_ORDER, MAX_QUANTITY_PER_LINE

pytestmark = pytest.mark.django_db


@dataclass
class Ctx:
    """What a row builds its request from."""

    body: dict[str, Any]
    order_id: str
    product_ids: list[int]


@dataclass
class Bad:
    name: str
    status: int
    code: str
    method: str = "POST"
    path: str = "/orders"
    # A function of the context returning a JSON-able body, or raw bytes.
    body: Any = None
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    # A command refused by a rule stores the refusal under the Idempotency-Key (a
    # retry replays it); input refused before the command stores nothing.
    refused_by_rule: bool = False


def order_with(**changes):
    return lambda ctx: {**ctx.body, **changes}


def first_line_with(**changes):
    def build(ctx):
        return {**ctx.body, "items": [{**ctx.body["items"][0], **changes}]}

    return build


def raw(data: bytes):
    return lambda ctx: data


APPROVE = "/orders/{order_id}/approve"
CANCEL = "/orders/{order_id}/cancel"
DETAIL = "/orders/dashboard/{order_id}"

BAD_INPUT = [
    # Malformed JSON and bodies that are not an object.
    Bad("malformed JSON", 400, "VALIDATION_ERROR", body=raw(b'{"customer_id": 1,')),
    Bad("JSON array", 400, "VALIDATION_ERROR", body=raw(b"[1, 2]")),
    Bad("JSON string", 400, "VALIDATION_ERROR", body=raw(b'"order"')),
    Bad("NaN literal", 400, "VALIDATION_ERROR", body=raw(b'{"customer_id": NaN}')),
    Bad("invalid UTF-8", 400, "VALIDATION_ERROR", body=raw(b'{"customer_id": "\xff"}')),
    Bad("nested too deeply", 400, "VALIDATION_ERROR", body=raw(b"[" * 100_000)),
    Bad("number too long", 400, "VALIDATION_ERROR", body=raw(b'{"customer_id": ' + b"9" * 5000)),
    Bad(
        "bytes codec charset",
        400,
        "VALIDATION_ERROR",
        body=raw(b"{}"),
        content_type="application/json; charset=bz2_codec",
    ),
    # Wrong types and missing fields.
    Bad("empty object", 400, "VALIDATION_ERROR", body=lambda ctx: {}),
    Bad("customer id a string", 400, "VALIDATION_ERROR", body=order_with(customer_id="abc")),
    Bad("customer id a float", 400, "VALIDATION_ERROR", body=order_with(customer_id=1.5)),
    Bad("customer id null", 400, "VALIDATION_ERROR", body=order_with(customer_id=None)),
    Bad("customer id over bigint", 400, "VALIDATION_ERROR", body=order_with(customer_id=2**63)),
    Bad("customer id zero", 400, "VALIDATION_ERROR", body=order_with(customer_id=0)),
    Bad("items an object", 400, "VALIDATION_ERROR", body=order_with(items={"a": 1})),
    Bad("items a string", 400, "VALIDATION_ERROR", body=order_with(items="nope")),
    Bad(
        "line without quantity", 400, "VALIDATION_ERROR", body=order_with(items=[{"product_id": 1}])
    ),
    Bad("quantity a word", 400, "VALIDATION_ERROR", body=first_line_with(quantity="many")),
    Bad("quantity a fraction", 400, "VALIDATION_ERROR", body=first_line_with(quantity=1.5)),
    Bad("quantity a list", 400, "VALIDATION_ERROR", body=first_line_with(quantity=[1])),
    Bad("negative price", 400, "VALIDATION_ERROR", body=first_line_with(price_cents=-1)),
    Bad("reason an object", 400, "VALIDATION_ERROR", path=CANCEL, body=lambda ctx: {"reason": {}}),
    Bad(
        "reason too long",
        400,
        "VALIDATION_ERROR",
        path=CANCEL,
        body=lambda ctx: {"reason": "x" * 1001},
    ),
    # Unknown fields, at the top and on a line; the approver is never a body field.
    Bad("unknown field", 400, "VALIDATION_ERROR", body=order_with(discount=10)),
    Bad("unknown line field", 400, "VALIDATION_ERROR", body=first_line_with(unit_price_cents=1)),
    Bad(
        "approved_by in body",
        400,
        "VALIDATION_ERROR",
        path=APPROVE,
        body=lambda ctx: {"approved_by": 1},
    ),
    Bad(
        "cancelled_by in body",
        400,
        "VALIDATION_ERROR",
        path=CANCEL,
        body=lambda ctx: {"reason": "x", "cancelled_by": 1},
    ),
    # Ids that are not UUIDs, or that name nothing.
    Bad(
        "approve a non-UUID",
        404,
        "ORDER_NOT_FOUND",
        path="/orders/not-a-uuid/approve",
        body=lambda ctx: {},
    ),
    Bad(
        "cancel a non-UUID",
        404,
        "ORDER_NOT_FOUND",
        path="/orders/123/cancel",
        body=lambda ctx: {"reason": "x"},
    ),
    Bad(
        "approve an unknown order",
        404,
        "ORDER_NOT_FOUND",
        path=f"/orders/{uuid.UUID(int=1)}/approve",
        body=lambda ctx: {},
        refused_by_rule=True,
    ),
    Bad(
        "dashboard row of a non-UUID",
        404,
        "NOT_FOUND",
        method="GET",
        path="/orders/dashboard/not-a-uuid",
    ),
    Bad("customer id not a number", 404, "NOT_FOUND", method="GET", path="/customers/abc/orders"),
    # Quantities: zero, negative, huge (a rule, with its own code).
    Bad(
        "quantity zero",
        422,
        "INVALID_QUANTITY",
        body=first_line_with(quantity=0),
        refused_by_rule=True,
    ),
    Bad(
        "quantity negative",
        422,
        "INVALID_QUANTITY",
        body=first_line_with(quantity=-5),
        refused_by_rule=True,
    ),
    Bad(
        "quantity over the limit",
        422,
        "INVALID_QUANTITY",
        body=first_line_with(quantity=MAX_QUANTITY_PER_LINE + 1),
        refused_by_rule=True,
    ),
    Bad(
        "quantity huge",
        422,
        "INVALID_QUANTITY",
        body=first_line_with(quantity=10**400),
        refused_by_rule=True,
    ),
    # Too many lines; the same product twice (refused, not merged: see the README).
    Bad(
        "too many lines",
        422,
        "TOO_MANY_LINES",
        body=lambda ctx: order_with(
            items=[{"product_id": n, "quantity": 1} for n in range(1, MAX_LINES_PER_ORDER + 2)]
        )(ctx),
        refused_by_rule=True,
    ),
    Bad(
        "duplicate product lines",
        422,
        "DUPLICATE_PRODUCT",
        body=lambda ctx: order_with(
            items=[
                {"product_id": ctx.product_ids[0], "quantity": 1},
                {"product_id": ctx.product_ids[0], "quantity": 2},
            ]
        )(ctx),
        refused_by_rule=True,
    ),
    Bad("empty order", 422, "EMPTY_ORDER", body=order_with(items=[]), refused_by_rule=True),
    # Oversized bodies: Django reads no further than DATA_UPLOAD_MAX_MEMORY_SIZE.
    Bad(
        "oversized body",
        413,
        "REQUEST_TOO_LARGE",
        body=lambda ctx: json.dumps(
            {**ctx.body, "padding": "x" * settings.DATA_UPLOAD_MAX_MEMORY_SIZE}
        ).encode(),
    ),
    Bad(
        "oversized approve body",
        413,
        "REQUEST_TOO_LARGE",
        path=APPROVE,
        body=raw(b'{"x": "' + b"y" * (1024 * 1024) + b'"}'),
    ),
    # Content types other than JSON.
    Bad(
        "text/plain",
        415,
        "UNSUPPORTED_MEDIA_TYPE",
        body=raw(b"customer_id=1"),
        content_type="text/plain",
    ),
    Bad(
        "form",
        415,
        "UNSUPPORTED_MEDIA_TYPE",
        body=raw(b"customer_id=1"),
        content_type="application/x-www-form-urlencoded",
    ),
    Bad(
        "multipart",
        415,
        "UNSUPPORTED_MEDIA_TYPE",
        body=raw(b'--b\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--b--\r\n'),
        content_type="multipart/form-data; boundary=b",
    ),
    Bad(
        "XML on cancel",
        415,
        "UNSUPPORTED_MEDIA_TYPE",
        path=CANCEL,
        body=raw(b"<reason/>"),
        content_type="application/xml",
    ),
    # Dashboard filters and pages with bad values.
    Bad(
        "status filter",
        400,
        "VALIDATION_ERROR",
        method="GET",
        path="/orders/dashboard?status=SHIPPED",
    ),
    Bad(
        "lowercase status",
        400,
        "VALIDATION_ERROR",
        method="GET",
        path="/orders/dashboard?status=pending",
    ),
    Bad(
        "high value filter",
        400,
        "VALIDATION_ERROR",
        method="GET",
        path="/orders/dashboard?is_high_value=1",
    ),
    Bad(
        "placed_after",
        400,
        "VALIDATION_ERROR",
        method="GET",
        path="/orders/dashboard?placed_after=yesterday",
    ),
    Bad(
        "placed_before",
        400,
        "VALIDATION_ERROR",
        method="GET",
        path="/orders/dashboard?placed_before=2026-13-40",
    ),
    Bad(
        "placed_before leaves the calendar in UTC",
        400,
        "VALIDATION_ERROR",
        method="GET",
        path="/orders/dashboard?placed_before=0001-01-01T00:00:00%2B05:00",
    ),
    Bad(
        "placed_after leaves the calendar in UTC",
        400,
        "VALIDATION_ERROR",
        method="GET",
        path="/orders/dashboard?placed_after=9999-12-31T23:59:59-05:00",
    ),
    Bad(
        "email too long",
        400,
        "VALIDATION_ERROR",
        method="GET",
        path="/orders/dashboard?customer_email=" + "a" * 255,
    ),
    Bad("cursor", 400, "VALIDATION_ERROR", method="GET", path="/orders/dashboard?cursor=garbage"),
    Bad(
        "page_size a word",
        400,
        "VALIDATION_ERROR",
        method="GET",
        path="/orders/dashboard?page_size=ten",
    ),
    Bad(
        "page_size zero",
        400,
        "VALIDATION_ERROR",
        method="GET",
        path="/orders/dashboard?page_size=0",
    ),
    Bad(
        "page_size negative",
        400,
        "VALIDATION_ERROR",
        method="GET",
        path="/customers/1/orders?page_size=-1",
    ),
    Bad(
        "customer filter",
        400,
        "VALIDATION_ERROR",
        method="GET",
        path="/customers/1/orders?status=LOST",
    ),
    # Read-your-writes parameters.
    Bad("min_version zero", 400, "VALIDATION_ERROR", method="GET", path=DETAIL + "?min_version=0"),
    Bad(
        "min_version a word", 400, "VALIDATION_ERROR", method="GET", path=DETAIL + "?min_version=v2"
    ),
    Bad(
        "wait over 10 s",
        400,
        "VALIDATION_ERROR",
        method="GET",
        path=DETAIL + "?min_version=1&wait=10001",
    ),
    Bad(
        "wait negative",
        400,
        "VALIDATION_ERROR",
        method="GET",
        path=DETAIL + "?min_version=1&wait=-5",
    ),
    # Headers.
    Bad(
        "idempotency key too long",
        400,
        "IDEMPOTENCY_KEY_INVALID",
        body=lambda ctx: ctx.body,
        headers={"Idempotency-Key": "k" * 256},
    ),
    Bad(
        "idempotency key with a control character",
        400,
        "IDEMPOTENCY_KEY_INVALID",
        path=APPROVE,
        body=lambda ctx: {},
        headers={"Idempotency-Key": "a\x01b"},
    ),
    Bad(
        "empty idempotency key",
        400,
        "IDEMPOTENCY_KEY_INVALID",
        path=APPROVE,
        body=lambda ctx: {},
        headers={"Idempotency-Key": ""},
    ),
    Bad(
        "Host not allowed",
        400,
        "BAD_REQUEST",
        method="GET",
        path="/orders/dashboard",
        headers={"Host": "evil.example"},
    ),
    # Outside DRF, Django's own limit is answered in the envelope too.
    Bad(
        "oversized form outside the API",
        413,
        "REQUEST_TOO_LARGE",
        path="/admin/login/",
        body=raw(b"username=" + b"x" * (1024 * 1024)),
        content_type="application/x-www-form-urlencoded",
    ),
]


def counts():
    return {
        model.__name__: model.objects.count() for model in (Order, OrderItem, Event, OrderSummary)
    }


@pytest.fixture
def ctx(place, payment_method, products):
    order = place()
    return Ctx(
        body={
            "customer_id": payment_method.customer_id,
            "payment_method_id": payment_method.pk,
            "items": [{"product_id": products[0].pk, "quantity": 1}],
        },
        order_id=str(order.id),
        product_ids=[product.pk for product in products],
    )


@pytest.mark.parametrize("bad", BAD_INPUT, ids=lambda bad: bad.name)
def test_bad_input_is_a_4xx_in_the_envelope_and_writes_nothing(api_client, ctx, bad):
    path = bad.path.format(order_id=ctx.order_id)
    body = bad.body(ctx) if bad.body else None
    if body is not None and not isinstance(body, bytes):
        body = json.dumps(body).encode()
    before, keys_before = counts(), IdempotencyKey.objects.count()
    # A retry key on every command: a bad request must not store one either.
    headers = {"HTTP_IDEMPOTENCY_KEY": str(uuid.uuid4())} if bad.method == "POST" else {}
    headers.update({f"HTTP_{name.upper().replace('-', '_')}": v for name, v in bad.headers.items()})

    response = api_client.generic(
        bad.method, path, body or b"", content_type=bad.content_type, **headers
    )

    assert response.status_code == bad.status, response.content[:500]
    assert response["Content-Type"] == "application/json"
    envelope = response.json()
    assert envelope["success"] is False
    assert envelope["code"] == bad.code
    assert isinstance(envelope["error"], str) and envelope["error"]
    assert set(envelope) <= {"success", "error", "code", "details"}
    assert counts() == before
    stored = IdempotencyKey.objects.count() - keys_before
    assert stored == (1 if bad.method == "POST" and bad.refused_by_rule else 0)


@pytest.mark.parametrize(
    "placed_after",
    ["2000-01-01T00:00:00+23:58", "2000-01-01T00:00:00-23:59", "0001-01-02T00:00:00+05:00"],
)
def test_odd_but_valid_date_times_are_answered(api_client, ctx, placed_after):
    """Offsets past PostgreSQL's ±15:59 were a 500 there: they are converted to UTC."""
    response = api_client.get("/orders/dashboard", {"placed_after": placed_after})
    assert response.status_code == 200, response.content
    assert [row["order_id"] for row in response.json()["results"]] == [ctx.order_id]
