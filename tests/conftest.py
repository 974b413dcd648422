"""Shared fixtures: a customer who can order, a catalog, users with the right permissions."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client, TestCase, override_settings
from rest_framework.test import APIClient

from orders_read.engine import inline
from orders_write.bus import dispatch
from orders_write.commands import Actor, OrderLine, PlaceOrder
from orders_write.models import Order, PaymentMethod, Product
from tests.factories import PaymentMethodFactory, ProductFactory, UserFactory

ALL_ORDER_PERMISSIONS = [
    "orders_write.add_order",
    "orders_write.approve_order",
    "orders_write.cancel_order",
    "orders_read.view_ordersummary",
]


def postgres_only(reason: str) -> pytest.MarkDecorator:
    """Skip on SQLite, saying why the test only means something on PostgreSQL."""
    return pytest.mark.skipif(
        connection.vendor != "postgresql", reason=f"PostgreSQL only: {reason}"
    )


requires_postgres = postgres_only(
    "row locks under concurrent transactions (SQLite serializes writers)"
)


def database_url_for_subprocess() -> str:
    """The test database as a ``DATABASE_URL``, for a server the test runs in a subprocess."""
    params = connection.settings_dict
    if connection.vendor == "postgresql":
        credentials = f"{quote(params['USER'], safe='')}:{quote(params['PASSWORD'] or '', safe='')}"
        return f"postgres://{credentials}@{params['HOST']}:{params['PORT']}/{params['NAME']}"
    return f"sqlite:///{params['NAME']}"


class RunsCommitHooks:
    """A test client whose requests run their on_commit hooks as they end.

    A test wraps everything in one transaction, so without this the projection (an
    on_commit hook) would never run; a real request's COMMIT runs it.
    """

    def request(self, **request):
        with TestCase.captureOnCommitCallbacks(execute=True):
            return super().request(**request)


class CommittingClient(RunsCommitHooks, Client):
    pass


class CommittingAPIClient(RunsCommitHooks, APIClient):
    pass


def projecting(place: Callable[..., Order]) -> Callable[..., Order]:
    """Wrap the ``place`` fixture so each order is projected at once, as after COMMIT."""

    def place_and_project(*quantities: int) -> Order:
        with TestCase.captureOnCommitCallbacks(execute=True):
            return place(*quantities)

    return place_and_project


@pytest.fixture(autouse=True)
def inline_checkpoint_moves_afresh():
    """The inline path moves a checkpoint at most once a second per process: each test
    starts as a new process would, whatever the test before it did."""
    inline._last_advance.clear()


@pytest.fixture(autouse=True, scope="session")
def fast_password_hashing():
    """Tests make users by the hundred: PBKDF2's real cost (~0.3 s each) is not under test."""
    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        yield


@pytest.fixture(autouse=True, scope="session")
def static_files_without_collectstatic():
    """Static URLs without a manifest: production's storage needs ``collectstatic`` first
    (tests/integration/test_static_files.py runs it and checks what WhiteNoise serves)."""
    plain = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    with override_settings(STORAGES=plain):
        yield


@pytest.fixture
def payment_method(db) -> PaymentMethod:
    return PaymentMethodFactory()


@pytest.fixture
def customer(payment_method):
    return payment_method.customer


@pytest.fixture
def products(db) -> list[Product]:
    return [
        ProductFactory(price_cents=1_999),
        ProductFactory(price_cents=50_000),
        ProductFactory(price_cents=10_000_000),
    ]


@pytest.fixture
def staff(db):
    return UserFactory(username="clerk", permissions=ALL_ORDER_PERMISSIONS)


@pytest.fixture
def actor(staff) -> Actor:
    return Actor.from_user(staff, request_id="test-request")


@pytest.fixture
def place(payment_method, products, actor) -> Callable[..., Order]:
    """Place an order through the bus and return it (committed, events appended)."""

    def place_order(*quantities: int) -> Order:
        """``place(3, 0, 1)``: 3 of the first product, none of the second, 1 of the third."""
        lines = tuple(
            OrderLine(product_id=product.pk, quantity=quantity)
            for product, quantity in zip(products, quantities or (2,), strict=False)
            if quantity
        )
        result = dispatch(
            PlaceOrder(
                customer_id=payment_method.customer_id,
                payment_method_id=payment_method.pk,
                items=lines,
            ),
            actor=actor,
        )
        assert result.success, result
        return Order.objects.get(pk=result.data["order_id"])

    return place_order


@pytest.fixture
def api_client(staff) -> APIClient:
    client = APIClient()
    client.force_authenticate(staff)
    return client
