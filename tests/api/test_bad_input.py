"""Every kind of bad input gets a 4xx in the error envelope and writes nothing.

One table: each row is a request built from a good one (a valid order body, an
existing order) and the status and code it must get. Rule rejections (422) are
also covered one by one in test_commands_api.py; here they stand beside the
malformed ones so the whole contract is in one place.
"""

from __future__ import annotations

import base64
import datetime
import json
import uuid
from dataclasses import dataclass, field
from typing import Any
from unittest import mock
from urllib.parse import quote, urlencode

import pytest
from django.conf import settings
from django.test import override_settings

from common.api import MAX_ERROR_MESSAGES, MAX_ERROR_TEXT
from orders_read.models import OrderSummary
from orders_write.models import Event, IdempotencyKey, Order, OrderItem
from orders_write.rules import MAX_LINES_PER_ORDER, MAX_QUANTITY_PER_LINE
from orders_write.serializers import OrderLineInput

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


def id_as(field: str, convert):
    """The valid body with ``field`` (a top-level id) sent as ``convert(id)``."""
    return lambda ctx: {**ctx.body, field: convert(ctx.body[field])}


def product_id_as(convert):
    return lambda ctx: first_line_with(product_id=convert(ctx.product_ids[0]))(ctx)


def cursor_at(placed_at: str, order_id: str = str(uuid.UUID(int=1))) -> str:
    """A cursor as the server encodes one, holding any ``placed_at`` text."""
    query = urlencode({"p": placed_at, "o": order_id})
    return base64.urlsafe_b64encode(query.encode()).decode()


def dashboard(query: str, path: str = "/orders/dashboard") -> dict[str, Any]:
    """A GET row's method and path: ``query`` on the dashboard (or another list)."""
    return {"method": "GET", "path": f"{path}?{query}"}


CUSTOMER_PAGE = "/customers/1/orders"


def cursor_query(cursor: str, path: str = "/orders/dashboard") -> dict[str, Any]:
    return dashboard(f"cursor={quote(cursor)}", path)


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
    # JSON is UTF-8: any other charset is refused before a byte is decoded.
    Bad(
        "bytes codec charset",
        415,
        "UNSUPPORTED_MEDIA_TYPE",
        body=raw(b"{}"),
        content_type="application/json; charset=bz2_codec",
    ),
    Bad(
        "unknown charset",
        415,
        "UNSUPPORTED_MEDIA_TYPE",
        body=lambda ctx: ctx.body,
        content_type="application/json; charset=foo",
    ),
    Bad(
        "latin-1 charset",
        415,
        "UNSUPPORTED_MEDIA_TYPE",
        body=lambda ctx: ctx.body,
        content_type="application/json; charset=latin-1",
    ),
    Bad(
        "utf-16 charset",
        415,
        "UNSUPPORTED_MEDIA_TYPE",
        path=APPROVE,
        body=raw("{}".encode("utf-16")),
        content_type="application/json; charset=utf-16",
    ),
    # A lone surrogate escape is JSON syntax but not Unicode: it can be neither
    # stored nor named in an error message.
    Bad("lone surrogate field name", 400, "VALIDATION_ERROR", body=raw(b'{"\\ud800": 1}')),
    Bad(
        "lone surrogate line field name",
        400,
        "VALIDATION_ERROR",
        body=lambda ctx: json.dumps(first_line_with(**{"\udfff": 1})(ctx)).encode(),
    ),
    Bad(
        "lone surrogate in a string",
        400,
        "VALIDATION_ERROR",
        path=CANCEL,
        body=raw(b'{"reason": "out of stock \\udc00"}'),
    ),
    Bad(
        "lone surrogate as an id",
        400,
        "VALIDATION_ERROR",
        body=lambda ctx: json.dumps(order_with(customer_id="\ud800")(ctx)).encode(),
    ),
    # Wrong types and missing fields.
    Bad("empty object", 400, "VALIDATION_ERROR", body=lambda ctx: {}),
    Bad("customer id a string", 400, "VALIDATION_ERROR", body=order_with(customer_id="abc")),
    Bad("customer id a float", 400, "VALIDATION_ERROR", body=order_with(customer_id=1.5)),
    # Integers are JSON integers: a real id as a string, a float or a boolean is refused.
    Bad("customer id a numeric string", 400, "VALIDATION_ERROR", body=id_as("customer_id", str)),
    Bad("customer id a whole float", 400, "VALIDATION_ERROR", body=id_as("customer_id", float)),
    Bad("customer id true", 400, "VALIDATION_ERROR", body=order_with(customer_id=True)),
    Bad(
        "payment method id a numeric string",
        400,
        "VALIDATION_ERROR",
        body=id_as("payment_method_id", str),
    ),
    Bad(
        "payment method id a whole float",
        400,
        "VALIDATION_ERROR",
        body=id_as("payment_method_id", float),
    ),
    Bad("payment method id true", 400, "VALIDATION_ERROR", body=order_with(payment_method_id=True)),
    Bad("product id a numeric string", 400, "VALIDATION_ERROR", body=product_id_as(str)),
    Bad("product id a whole float", 400, "VALIDATION_ERROR", body=product_id_as(float)),
    Bad("product id true", 400, "VALIDATION_ERROR", body=first_line_with(product_id=True)),
    Bad("quantity a numeric string", 400, "VALIDATION_ERROR", body=first_line_with(quantity="2")),
    Bad("quantity a whole float", 400, "VALIDATION_ERROR", body=first_line_with(quantity=1.0)),
    Bad("quantity true", 400, "VALIDATION_ERROR", body=first_line_with(quantity=True)),
    Bad(
        "price a numeric string", 400, "VALIDATION_ERROR", body=first_line_with(price_cents="1999")
    ),
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
    # Too many lines, counted before any line is read (so never stored under the
    # key); the same product twice (refused, not merged: see the README).
    Bad(
        "too many lines",
        422,
        "TOO_MANY_LINES",
        body=lambda ctx: order_with(
            items=[{"product_id": n, "quantity": 1} for n in range(1, MAX_LINES_PER_ORDER + 2)]
        )(ctx),
    ),
    Bad(
        "thousands of bad lines",
        422,
        "TOO_MANY_LINES",
        body=order_with(items=[{"product_id": "x", "quantity": "y"}] * 20_000),
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
    # Dates: YYYY-MM-DD, or a date-time with Z or an offset; nothing else is guessed.
    Bad("placed_after month/day", 400, "VALIDATION_ERROR", **dashboard("placed_after=12/02/2026")),
    Bad("placed_after basic format", 400, "VALIDATION_ERROR", **dashboard("placed_after=20261202")),
    Bad("placed_after week date", 400, "VALIDATION_ERROR", **dashboard("placed_after=2026-W49-3")),
    Bad(
        "placed_after date with an offset",
        400,
        "VALIDATION_ERROR",
        **dashboard("placed_after=2026-12-02%2B05:00"),
    ),
    Bad(
        "placed_before date-time without offset",
        400,
        "VALIDATION_ERROR",
        **dashboard("placed_before=2026-12-02T10:00:00"),
    ),
    Bad(
        "placed_before without seconds",
        400,
        "VALIDATION_ERROR",
        **dashboard("placed_before=2026-12-02T10:00Z"),
    ),
    Bad(
        "placed_before with a space",
        400,
        "VALIDATION_ERROR",
        **dashboard("placed_before=2026-12-02%2010:00:00Z"),
    ),
    Bad(
        "placed_after + not encoded (a space)",
        400,
        "VALIDATION_ERROR",
        **dashboard("placed_after=2026-12-02T10:00:00+05:00"),
    ),
    Bad(
        "placed_after offset of 24 hours",
        400,
        "VALIDATION_ERROR",
        **dashboard("placed_after=2026-12-02T10:00:00%2B24:00"),
    ),
    Bad(
        "placed_after offset +99:99",
        400,
        "VALIDATION_ERROR",
        **dashboard("placed_after=2026-12-02T10:00:00%2B99:99"),
    ),
    Bad("placed_after year 0", 400, "VALIDATION_ERROR", **dashboard("placed_after=0000-01-01")),
    Bad(
        "placed_after year 10000", 400, "VALIDATION_ERROR", **dashboard("placed_after=10000-01-01")
    ),
    Bad(
        "placed_after no such day", 400, "VALIDATION_ERROR", **dashboard("placed_after=2026-02-29")
    ),
    Bad(
        "customer page date-time without offset",
        400,
        "VALIDATION_ERROR",
        **dashboard("placed_after=2026-12-02T10:00:00", CUSTOMER_PAGE),
    ),
    # A query string that is not UTF-8 (here an encoded surrogate) is read with U+FFFD.
    Bad("surrogate in a filter", 400, "VALIDATION_ERROR", **dashboard("status=%ED%A0%80")),
    Bad(
        "surrogate in a date filter",
        400,
        "VALIDATION_ERROR",
        **dashboard("placed_before=2026-12-02%ED%A0%80"),
    ),
    Bad(
        "email too long",
        400,
        "VALIDATION_ERROR",
        method="GET",
        path="/orders/dashboard?customer_email=" + "a" * 255,
    ),
    Bad("email with a NUL", 400, "VALIDATION_ERROR", **dashboard("customer_email=a%00b")),
    Bad("cursor", 400, "VALIDATION_ERROR", method="GET", path="/orders/dashboard?cursor=garbage"),
    # Cursors that decode but hold what this server never writes; each was a 500 on
    # one database or the other, or read as something else.
    Bad(
        "cursor offset +25:00",
        400,
        "VALIDATION_ERROR",
        **cursor_query(cursor_at("2026-01-01T00:00:00+25:00")),
    ),
    Bad(
        "cursor offset +25:00 on the customer page",
        400,
        "VALIDATION_ERROR",
        **cursor_query(cursor_at("2026-01-01T00:00:00+25:00"), CUSTOMER_PAGE),
    ),
    Bad(
        "cursor offset +99:99",
        400,
        "VALIDATION_ERROR",
        **cursor_query(cursor_at("2026-01-01T00:00:00+99:99")),
    ),
    Bad(
        "cursor offset +99:99 on the customer page",
        400,
        "VALIDATION_ERROR",
        **cursor_query(cursor_at("2026-01-01T00:00:00+99:99"), CUSTOMER_PAGE),
    ),
    Bad(
        "cursor offset +20:00 (past PostgreSQL's)",
        400,
        "VALIDATION_ERROR",
        **cursor_query(cursor_at("2026-01-01T00:00:00+20:00")),
    ),
    Bad(
        "cursor offset +20:00 (past PostgreSQL's) on the customer page",
        400,
        "VALIDATION_ERROR",
        **cursor_query(cursor_at("2026-01-01T00:00:00+20:00"), CUSTOMER_PAGE),
    ),
    Bad(
        "cursor year 0",
        400,
        "VALIDATION_ERROR",
        **cursor_query(cursor_at("0000-01-01T00:00:00+00:00")),
    ),
    Bad(
        "cursor year 0 on the customer page",
        400,
        "VALIDATION_ERROR",
        **cursor_query(cursor_at("0000-01-01T00:00:00+00:00"), CUSTOMER_PAGE),
    ),
    Bad(
        "cursor year 10000",
        400,
        "VALIDATION_ERROR",
        **cursor_query(cursor_at("10000-01-01T00:00:00+00:00")),
    ),
    Bad(
        "cursor year 10000 on the customer page",
        400,
        "VALIDATION_ERROR",
        **cursor_query(cursor_at("10000-01-01T00:00:00+00:00"), CUSTOMER_PAGE),
    ),
    Bad(
        "cursor year 1 before UTC",
        400,
        "VALIDATION_ERROR",
        **cursor_query(cursor_at("0001-01-01T00:00:00+05:00")),
    ),
    Bad(
        "cursor year 1 before UTC on the customer page",
        400,
        "VALIDATION_ERROR",
        **cursor_query(cursor_at("0001-01-01T00:00:00+05:00"), CUSTOMER_PAGE),
    ),
    Bad(
        "cursor year 1 with a negative offset",
        400,
        "VALIDATION_ERROR",
        **cursor_query(cursor_at("0001-01-01T00:00:00-05:00")),
    ),
    Bad(
        "cursor year 1 with a negative offset on the customer page",
        400,
        "VALIDATION_ERROR",
        **cursor_query(cursor_at("0001-01-01T00:00:00-05:00"), CUSTOMER_PAGE),
    ),
    Bad(
        "cursor year 9999 after UTC",
        400,
        "VALIDATION_ERROR",
        **cursor_query(cursor_at("9999-12-31T23:59:59-05:00")),
    ),
    Bad(
        "cursor year 9999 after UTC on the customer page",
        400,
        "VALIDATION_ERROR",
        **cursor_query(cursor_at("9999-12-31T23:59:59-05:00"), CUSTOMER_PAGE),
    ),
    Bad(
        "cursor week date",
        400,
        "VALIDATION_ERROR",
        **cursor_query(cursor_at("2026-W05-1T00:00:00+00:00")),
    ),
    Bad(
        "cursor week date on the customer page",
        400,
        "VALIDATION_ERROR",
        **cursor_query(cursor_at("2026-W05-1T00:00:00+00:00"), CUSTOMER_PAGE),
    ),
    Bad(
        "cursor a trailing NUL",
        400,
        "VALIDATION_ERROR",
        **cursor_query(cursor_at("2026-01-01T00:00:00+00:00\x00")),
    ),
    Bad(
        "cursor a trailing NUL on the customer page",
        400,
        "VALIDATION_ERROR",
        **cursor_query(cursor_at("2026-01-01T00:00:00+00:00\x00"), CUSTOMER_PAGE),
    ),
    Bad(
        "cursor with an order id of 400 digits",
        400,
        "VALIDATION_ERROR",
        **cursor_query(cursor_at("2026-01-01T00:00:00+00:00", "1" * 400)),
    ),
    Bad(
        "cursor with an order id without hyphens",
        400,
        "VALIDATION_ERROR",
        **cursor_query(cursor_at("2026-01-01T00:00:00+00:00", uuid.UUID(int=1).hex)),
    ),
    Bad(
        "cursor with characters outside base64",
        400,
        "VALIDATION_ERROR",
        **cursor_query("!" + cursor_at("2026-01-01T00:00:00+00:00")),
    ),
    Bad(
        "cursor of non-UTF-8 bytes",
        400,
        "VALIDATION_ERROR",
        **cursor_query(base64.urlsafe_b64encode(b"p=\xff&o=\xfe").decode()),
    ),
    Bad(
        "cursor with an extra key",
        400,
        "VALIDATION_ERROR",
        **cursor_query(
            base64.urlsafe_b64encode(
                base64.urlsafe_b64decode(cursor_at("2026-01-01T00:00:00+00:00")) + b"&x=1"
            ).decode()
        ),
    ),
    Bad("cursor of a surrogate", 400, "VALIDATION_ERROR", **dashboard("cursor=%ED%A0%80")),
    Bad(
        "cursor not ASCII on the customer page",
        400,
        "VALIDATION_ERROR",
        **dashboard("cursor=%C3%A9", CUSTOMER_PAGE),
    ),
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
        "idempotency key with a lone surrogate",
        400,
        "IDEMPOTENCY_KEY_INVALID",
        path=APPROVE,
        body=lambda ctx: {},
        headers={"Idempotency-Key": "key-\ud800"},
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


# An error body's size never depends on the input: 10 clipped messages fit well within.
MAX_ERROR_BODY_BYTES = 4096


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
    # Small whatever the input's size: details are capped (common.api).
    assert len(response.content) <= MAX_ERROR_BODY_BYTES
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


def messages_in(details) -> list[str]:
    """Every message in nested error details."""
    if isinstance(details, dict):
        return [message for value in details.values() for message in messages_in(value)]
    if isinstance(details, list):
        return [message for value in details for message in messages_in(value)]
    return [details]


@pytest.mark.parametrize(
    ("lines", "lines_validated"),
    [(MAX_LINES_PER_ORDER, MAX_LINES_PER_ORDER), (MAX_LINES_PER_ORDER + 1, 0), (30_000, 0)],
)
def test_a_list_over_the_line_limit_is_refused_before_any_line_is_validated(
    api_client, ctx, lines, lines_validated
):
    """Validating 30,000 bad lines one by one took seconds of CPU and answered 3.6 MB."""
    body = {**ctx.body, "items": [{"product_id": "x", "quantity": "y"}] * lines}
    validate = OrderLineInput.run_validation
    with mock.patch.object(
        OrderLineInput, "run_validation", autospec=True, side_effect=validate
    ) as validate_line:
        response = api_client.post("/orders", body, format="json")

    assert validate_line.call_count == lines_validated
    if lines > MAX_LINES_PER_ORDER:
        assert (response.status_code, response.json()["code"]) == (422, "TOO_MANY_LINES")
    else:
        assert response.status_code == 400
    assert len(response.content) <= MAX_ERROR_BODY_BYTES


@pytest.mark.parametrize("unknown_fields", [MAX_ERROR_MESSAGES + 1, 3_000])
def test_error_details_are_capped_whatever_the_number_of_problems(api_client, ctx, unknown_fields):
    """Each unknown field (named by the client, at any length) was one more entry."""
    long_names = {f"{n:05d}" + "x" * 300: 1 for n in range(unknown_fields)}
    response = api_client.post("/orders", {**ctx.body, **long_names}, format="json")

    assert response.status_code == 400
    envelope = response.json()
    assert len(messages_in(envelope["details"])) == MAX_ERROR_MESSAGES
    kept = sorted(envelope["details"])
    assert [name[:5] for name in kept] == [f"{n:05d}" for n in range(MAX_ERROR_MESSAGES)]
    assert all(len(name) <= MAX_ERROR_TEXT for name in kept)
    assert f"{unknown_fields} problems" in envelope["error"]
    assert len(response.content) <= MAX_ERROR_BODY_BYTES


def test_capped_line_errors_keep_their_line_numbers(api_client, ctx):
    bad_line = {"product_id": "x", "quantity": "y"}  # two problems a line
    body = {**ctx.body, "items": [bad_line] * MAX_LINES_PER_ORDER}
    response = api_client.post("/orders", body, format="json")

    assert response.status_code == 400
    details = response.json()["details"]
    assert list(details) == ["items"]
    assert list(details["items"]) == [str(n) for n in range(MAX_ERROR_MESSAGES // 2)]
    assert details["items"]["0"] == {
        "product_id": ["A valid integer is required."],
        "quantity": ["A valid integer is required."],
    }


def test_few_problems_are_all_listed(api_client, ctx):
    response = api_client.post("/orders", {**ctx.body, "a": 1, "b": 2}, format="json")
    assert response.json()["details"] == {"a": ["Unknown field."], "b": ["Unknown field."]}
    assert response.json()["error"] == "Invalid input"


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json; charset=utf-8",
        "application/json; charset=UTF-8",
        'application/json; charset="utf-8"',
    ],
)
def test_json_in_utf_8_is_accepted_however_the_charset_is_spelled(api_client, ctx, content_type):
    body = json.dumps(ctx.body).encode()
    response = api_client.generic("POST", "/orders", body, content_type=content_type)
    assert response.status_code == 201, response.content


def test_a_surrogate_pair_is_one_character_and_accepted(api_client, ctx):
    """Only a lone surrogate is refused: an escaped pair is an ordinary character."""
    body = b'{"reason": "broken \\ud83d\\ude00"}'
    response = api_client.generic(
        "POST", f"/orders/{ctx.order_id}/cancel", body, content_type="application/json"
    )
    assert response.status_code == 200, response.content
    assert Order.objects.get(pk=ctx.order_id).cancel_reason == "broken \N{GRINNING FACE}"


ACCEPTED_SAME_INSTANT = [
    "2026-12-01T23:30:00Z",
    "2026-12-01T23:30:00+00:00",
    "2026-12-01T23:30:00.000000Z",
    "2026-12-02T05:00:00+05:30",
    "2026-12-01T00:31:00-22:59",
]


@pytest.mark.parametrize("value", ACCEPTED_SAME_INSTANT)
def test_a_date_time_with_an_offset_is_that_instant(api_client, ctx, value):
    placed_at = datetime.datetime(2026, 12, 1, 23, 30, tzinfo=datetime.UTC)
    OrderSummary.objects.filter(order_id=ctx.order_id).update(placed_at=placed_at)

    def listed(**query):
        return [
            row["order_id"] for row in api_client.get("/orders/dashboard", query).json()["results"]
        ]

    assert listed(placed_after=value) == [ctx.order_id]  # inclusive
    assert listed(placed_before=value) == []  # exclusive


@override_settings(TIME_ZONE="Pacific/Kiritimati")  # UTC+14: a local reading would differ
def test_a_date_is_midnight_utc_whatever_the_server_time_zone(api_client, ctx):
    placed_at = datetime.datetime(2026, 12, 1, 23, 30, tzinfo=datetime.UTC)
    OrderSummary.objects.filter(order_id=ctx.order_id).update(placed_at=placed_at)

    def listed(**query):
        return [
            row["order_id"] for row in api_client.get("/orders/dashboard", query).json()["results"]
        ]

    assert listed(placed_after="2026-12-02") == []
    assert listed(placed_after="2026-12-01", placed_before="2026-12-02") == [ctx.order_id]
