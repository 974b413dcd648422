"""Shared fixtures: a customer who can order, a catalog, users with the right permissions."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import DatabaseError, connection, connections
from django.test import Client, TestCase, override_settings
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from config.databases import READ, replica_aliases
from orders_read.engine import inline
from orders_read.engine import rebuild as rebuild_module
from orders_write import upcasting
from orders_write.bus import dispatch
from orders_write.commands import Actor, OrderLine, PlaceOrder
from orders_write.events import OrderPlaced
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


def split_only(reason: str) -> pytest.MarkDecorator:
    """Skip unless the read model has a PostgreSQL of its own (the split topology)."""
    return pytest.mark.skipif(
        READ not in settings.DATABASES or connections[READ].vendor != "postgresql",
        reason=f"split topology only (READ_DATABASE_URL on PostgreSQL): {reason}",
    )


def one_postgres_only(reason: str) -> pytest.MarkDecorator:
    """Skip unless the log and the read model share one PostgreSQL database (where the
    projections fold the log in SQL: set-based rebuilds, catch-up's ranges)."""
    return pytest.mark.skipif(
        connection.vendor != "postgresql" or READ in settings.DATABASES,
        reason=f"the log and the read model in one PostgreSQL only: {reason}",
    )


def replicas_only(reason: str) -> pytest.MarkDecorator:
    """Skip unless hot standbys of the read database are configured (READ_REPLICA_URLS)."""
    return pytest.mark.skipif(
        not replica_aliases(settings.DATABASES),
        reason=f"needs READ_REPLICA_URLS (a streaming replica): {reason}",
    )


requires_postgres = postgres_only(
    "row locks under concurrent transactions (SQLite serializes writers)"
)


def database_url_for_subprocess(alias: str = "default") -> str:
    """A test database as a ``DATABASE_URL``, for a server the test runs in a subprocess."""
    params = connections[alias].settings_dict
    if connections[alias].vendor == "postgresql":
        credentials = f"{quote(params['USER'], safe='')}:{quote(params['PASSWORD'] or '', safe='')}"
        return f"postgres://{credentials}@{params['HOST']}:{params['PORT']}/{params['NAME']}"
    return f"sqlite:///{params['NAME']}"


def databases_for_subprocess() -> dict[str, str]:
    """The environment that gives a subprocess the test databases, split topology included."""
    environ = {"DATABASE_URL": database_url_for_subprocess()}
    if READ in settings.DATABASES:
        environ["READ_DATABASE_URL"] = database_url_for_subprocess(READ)
    replicas = replica_aliases(settings.DATABASES)
    environ["READ_REPLICA_URLS"] = ",".join(map(database_url_for_subprocess, replicas))
    return environ


@contextmanager
def all_queries() -> Iterator[list[dict]]:
    """The queries run in the block on the write database and the read primary."""
    captured: list[dict] = []
    aliases = [
        alias for alias in settings.DATABASES if alias not in replica_aliases(settings.DATABASES)
    ]
    contexts = [CaptureQueriesContext(connections[alias]) for alias in aliases]
    with ExitStack() as stack:
        for context in contexts:
            stack.enter_context(context)
        yield captured
    for context in contexts:
        captured.extend(context.captured_queries)


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


def pytest_collection_modifyitems(items):
    """With more than one database, a test that uses one may use them all, replicas aside.

    The read model lives in another database than the write side (``READ_DATABASE_URL``):
    a test that places an order and reads the dashboard touches both, and each is then
    wrapped in the test's transaction (or flushed after a transactional test). A replica
    is read-only and sees only committed rows: a test that reads one asks for it
    (``databases="__all__"``), and the others read the primary.
    """
    if len(settings.DATABASES) == 1:
        return
    primaries = [
        alias for alias in settings.DATABASES if alias not in replica_aliases(settings.DATABASES)
    ]
    for item in items:
        marker = item.get_closest_marker("django_db")
        if marker is not None:
            if "databases" not in marker.kwargs:
                item.add_marker(
                    pytest.mark.django_db(*marker.args, **marker.kwargs, databases=primaries),
                    append=False,
                )
        elif {"db", "transactional_db"} & set(getattr(item, "fixturenames", ())):
            transactional = "transactional_db" in item.fixturenames
            item.add_marker(
                pytest.mark.django_db(transaction=transactional, databases=primaries),
                append=False,
            )


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup):
    """Point each replica back at its standby, at the read primary's test database.

    A standby cannot create a database: in tests a replica alias mirrors the read
    primary (``TEST["MIRROR"]``), which would make it the primary itself. Streaming
    replication copies every database of the read cluster, the test one included, so
    the replica alias keeps its own server and reads the test database's name there.
    """
    for alias in replica_aliases(settings.DATABASES):
        mirrored = connections[alias].settings_dict
        standby = settings.DATABASES[alias]
        if standby is not mirrored:
            standby["NAME"] = mirrored["NAME"]
            connections[alias].close()
            connections[alias].settings_dict = standby
            _wait_for_replay(alias)
    yield


def _wait_for_replay(alias: str, timeout: float = 60.0) -> None:
    """Wait until the standby has replayed the test database and its tables."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with connections[alias].cursor() as cursor:
                cursor.execute("SELECT count(*) FROM orders_read_projectioncheckpoint")
            return
        except DatabaseError:
            connections[alias].close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@pytest.fixture(autouse=True)
def replicas_for_tests_that_ask(request):
    """Reads go to a replica only in a test that asks for replicas (``databases="__all__"``).

    A standby sees committed rows only, so such a test is transactional; every other test
    reads the primary.
    """
    marker = request.node.get_closest_marker("django_db")
    asked = marker is not None and marker.kwargs.get("databases") == "__all__"
    if asked or not replica_aliases(settings.DATABASES):
        yield
        return
    with override_settings(ORDERS_READ_REPLICAS=[]):
        yield


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


@pytest.fixture
def upcaster_without_sql(monkeypatch):
    """An ``OrderPlaced`` v1 upcaster that has no SQL twin: set-based folds cannot read
    such events, so a rebuild must fold in Python."""
    monkeypatch.setitem(
        upcasting.UPCASTERS,
        (OrderPlaced.type, 1),
        upcasting.Upcast(lambda data: {"currency": "USD", **data}),
    )


@pytest.fixture
def statements_side_by_side(monkeypatch) -> list[str]:
    """The SQL of every statement a rebuild runs side by side (its folds, ledger fills
    and count), in the order it hands them over."""
    seen: list[str] = []
    real_run = rebuild_module._run_side_by_side

    def run(connection, statements):
        seen.extend(statement[0] for statement in statements)
        return real_run(connection, statements)

    monkeypatch.setattr(rebuild_module, "_run_side_by_side", run)
    return seen
