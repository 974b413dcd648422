"""Schemathesis fuzzes the app from its own OpenAPI schema, as an authenticated client.

Every operation gets schema examples, the coverage phase's boundary and malformed
cases, and hypothesis-generated positive and negative requests, sent through the
whole WSGI stack (middleware, DRF, handlers, the database) in the test's
transaction. Checks: no 5xx, and every status, content type, header and body
conforms to the schema. Deterministic (a fixed seed, derandomized) and bounded.

Generated ids (and quantities) are steered onto seeded customers, products and
orders most of the time, so requests reach the handlers' rules, the writes and the
read model instead of stopping at "not found". Only schema-valid values are steered,
onto schema-valid values: a negative case stays negative.

A run is about 1,100 requests (100 examples per operation and phase, plus the
coverage phase's cases): under 20 s on SQLite or PostgreSQL on two cores.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from urllib.parse import parse_qs, urlsplit

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.test import TestCase
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from orders_read import selectors
from orders_read.stats import MAX_DAILY_RANGE_DAYS
from orders_write.bus import dispatch
from orders_write.commands import ApproveOrder, CancelOrder
from orders_write.models import Customer
from orders_write.serializers import MAX_ID
from tests.conftest import ALL_ORDER_PERMISSIONS
from tests.factories import PaymentMethodFactory, ProductFactory, UserFactory

pytestmark = pytest.mark.django_db

SEED = 20261126
MAX_EXAMPLES = 100

CONFIG = schemathesis.Config.from_dict(
    {
        "seed": SEED,
        "generation": {
            "mode": "all",
            "max-examples": MAX_EXAMPLES,
            "deterministic": True,
            "database": "none",
        },
        "phases": {"stateful": {"enabled": False}},
        "checks": {
            # What this test is for: no 5xx, and every status, content type, header
            # and body as the schema says.
            "not_a_server_error": {"enabled": True},
            "status_code_conformance": {"enabled": True},
            "content_type_conformance": {"enabled": True},
            "response_headers_conformance": {"enabled": True},
            "response_schema_conformance": {"enabled": True},
            # Requests the schema calls invalid are refused with a 4xx...
            "negative_data_rejection": {"enabled": True},
            # ...and valid ones are never called malformed (400, 413, 415). A schema
            # cannot say which customer is suspended or which order is already
            # cancelled, so a rule may still refuse them (404, 409, 422).
            "positive_data_acceptance": {
                "enabled": True,
                "expected-statuses": [200, 201, 401, 403, 404, 409, 422],
            },
            # The others (auth ignored, undocumented methods, ...) are schemathesis's
            # defaults and stay on.
        },
    }
)

schema = schemathesis.openapi.from_wsgi(
    "/schema?format=json", get_wsgi_application(), config=CONFIG
)


@dataclass
class Seeded:
    token: str
    customer_ids: list[int]
    # (customer, payment method): two good pairs, one mismatched, one suspended customer.
    accounts: list[tuple[int, int]]
    product_ids: list[int]
    order_ids: list[str]
    cursor: str


@pytest.fixture
def seeded(place, actor, products) -> Seeded:
    """A clerk with a token, three customers (one suspended), the catalog (one product
    unavailable), orders in every status, and a real page cursor."""
    user = UserFactory(username="fuzzer", permissions=ALL_ORDER_PERMISSIONS)
    other = PaymentMethodFactory()
    suspended = PaymentMethodFactory(customer__status=Customer.Status.SUSPENDED)
    products.append(ProductFactory(is_available=False))
    with TestCase.captureOnCommitCallbacks(execute=True):
        orders = [place(1), place(2, 1), place(0, 0, 1), place(3)]
        dispatch(ApproveOrder(order_id=orders[1].id), actor=actor)
        dispatch(CancelOrder(order_id=orders[3].id, reason="seeded"), actor=actor)
    client = APIClient()
    client.force_authenticate(user)
    next_page = client.get("/orders/dashboard", {"page_size": 1}).json()["next"]
    return Seeded(
        token=Token.objects.create(user=user).key,
        customer_ids=[orders[0].customer_id, other.customer_id, suspended.customer_id],
        accounts=[
            (orders[0].customer_id, orders[0].payment_method_id),
            (other.customer_id, other.pk),
            (orders[0].customer_id, other.pk),
            (suspended.customer_id, suspended.pk),
        ],
        product_ids=[product.pk for product in products],
        order_ids=[str(order.id) for order in orders],
        cursor=parse_qs(urlsplit(next_page).query)["cursor"][0],
    )


@pytest.fixture
def in_the_test_transaction():
    """Requests go straight to the WSGI handler, which closes "old" connections when a
    request starts and finishes: that would close the test's connection, inside its
    transaction. Django's own test client disconnects the same receiver."""
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


@pytest.fixture
def instant_waits(monkeypatch):
    """min_version waits run on a fake clock: a 10 s wait costs no time."""
    clock = [0.0]

    def sleep(seconds):
        clock[0] += seconds

    monkeypatch.setattr(selectors, "monotonic", lambda: clock[0])
    monkeypatch.setattr(selectors, "sleep", sleep)


def as_id(value: object, *, low: int | None = 1, high: int = MAX_ID) -> int | None:
    """``value`` as a number if the schema accepts it as an id (an integer in
    ``low..high`` or a UUID string), else None."""
    if isinstance(value, str):
        try:
            return uuid.UUID(value).int
        except ValueError:
            return None
    is_int = isinstance(value, int) and not isinstance(value, bool)
    if is_int and (low is None or value >= low) and value <= high:
        return value
    return None


def pick(value: object, choices: list, **bounds: int | None) -> object:
    """Map a generated value onto a seeded one, deterministically.

    Only values the schema accepts are mapped, and onto values it also accepts, so
    a negative case stays negative. One bucket in ``len(choices) + 1`` keeps the
    generated value: unknown ids are tried too.
    """
    number = as_id(value, **bounds)
    if number is None:
        return value
    bucket = number % (len(choices) + 1)
    return choices[bucket] if bucket < len(choices) else value


def within_a_year(query: dict) -> None:
    """Valid dates as a range the schema cannot state: ordered, at most a year long.

    A lone ``from`` gets a ``to`` (today would be too far from most generated days).
    Reversed and longer ranges are 400s: tests/api/test_stats_api.py.
    """
    days = []
    for name in ("from", "to"):
        try:
            days.append(date.fromisoformat(query.get(name) or ""))
        except (TypeError, ValueError):
            if name == "from" or query.get(name):
                return  # no valid "from", or an invalid "to": a negative case, as it is
    first, last = min(days), max(days)
    span = (last - first).days % MAX_DAILY_RANGE_DAYS or first.toordinal() % MAX_DAILY_RANGE_DAYS
    last = date.fromordinal(min(first.toordinal() + span, date.max.toordinal()))
    query["from"], query["to"] = first.isoformat(), last.isoformat()


def steer(case, seeded: Seeded) -> None:
    # A cursor is opaque: only one from a `next` link means anything.
    if case.query and "cursor" in case.query:
        case.query["cursor"] = seeded.cursor
    if case.query:
        within_a_year(case.query)
    path = case.path_parameters or {}
    if "order_id" in path:
        path["order_id"] = pick(path["order_id"], seeded.order_ids)
    if "customer_id" in path:
        path["customer_id"] = pick(path["customer_id"], seeded.customer_ids, low=0, high=10**18 - 1)
    body = case.body
    if isinstance(body, dict):
        customer, method = body.get("customer_id"), body.get("payment_method_id")
        if as_id(customer) is not None and as_id(method) is not None:
            account = pick(customer, seeded.accounts)
            if isinstance(account, tuple):
                body["customer_id"], body["payment_method_id"] = account
        if isinstance(body.get("items"), list):
            for line in body["items"]:
                if not isinstance(line, dict):
                    continue
                if "product_id" in line:
                    line["product_id"] = pick(line["product_id"], seeded.product_ids)
                if "quantity" in line:
                    line["quantity"] = pick(line["quantity"], [1, 2, 3], low=None)
                if "price_cents" in line:
                    line["price_cents"] = pick(line["price_cents"], [None, None], low=0)


@schema.parametrize()
# The seeded rows are shared by every example of an operation, on purpose: the
# examples build on one another (an order approved by one is refused by the next).
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_the_api_answers_every_request_as_its_schema_says(
    case, seeded, instant_waits, in_the_test_transaction
):
    steer(case, seeded)
    with TestCase.captureOnCommitCallbacks(execute=True):
        case.call_and_validate(headers={"Authorization": f"Token {seeded.token}"})
