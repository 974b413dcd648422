"""Committed events reach OrderSummary; rolled-back ones never do; replays change nothing."""

import datetime
import logging

import pytest
from django.db import OperationalError, connections, router, transaction
from django.test.utils import CaptureQueriesContext

from orders_read.daily_sales.projection import daily_sales
from orders_read.engine import inline
from orders_read.engine.inline import apply_events
from orders_read.models import DailySales, DailySalesApplied, OrderSummary
from orders_read.order_summary import projection
from orders_read.order_summary.projection import order_summary
from orders_write import event_log
from orders_write.bus import dispatch
from orders_write.commands import ApproveOrder, CancelOrder
from orders_write.models import Event, Order, OrderStatus
from tests.conftest import postgres_only

pytestmark = pytest.mark.django_db


def test_placed_order_is_projected_after_commit(
    place, customer, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        order = place(3, 1)

    summary = OrderSummary.objects.get(pk=order.id)
    assert summary.customer_id == customer.pk
    assert (summary.customer_name, summary.customer_email) == (customer.name, customer.email)
    assert summary.status == OrderStatus.PENDING
    assert summary.item_count == 2  # order lines, not units
    assert summary.total_cents == order.total_cents == 3 * 1_999 + 50_000
    assert summary.formatted_total == "$559.97"
    assert summary.placed_at == order.placed_at
    assert summary.version == 1
    assert summary.is_high_value is False
    assert summary.day_placed == order.placed_at.astimezone(datetime.UTC).date()


def test_nothing_reaches_the_read_model_before_commit(place, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        order = place()
    assert not OrderSummary.objects.filter(pk=order.id).exists()
    assert len(callbacks) == 1


def test_a_rolled_back_command_never_reaches_the_read_model(
    place, django_capture_on_commit_callbacks
):
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        place()
        raise RuntimeError("the surrounding transaction fails after the command")

    assert callbacks == []
    assert Order.objects.count() == 0
    assert Event.objects.count() == 0
    assert OrderSummary.objects.count() == 0


def test_status_changes_follow_the_stream(place, actor, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        order = place()
        dispatch(ApproveOrder(order_id=order.id), actor=actor)
    summary = OrderSummary.objects.get(pk=order.id)
    assert (summary.status, summary.version) == (OrderStatus.APPROVED, 2)

    with django_capture_on_commit_callbacks(execute=True):
        dispatch(CancelOrder(order_id=order.id, reason="fraud"), actor=actor)
    summary.refresh_from_db()
    assert (summary.status, summary.version) == (OrderStatus.CANCELLED, 3)
    assert summary.last_updated == Event.objects.get(stream_id=order.id, version=3).occurred_at


def test_high_value_is_generated_from_the_total(place, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        order = place(0, 3)  # 3 x $500.00
    summary = OrderSummary.objects.get(pk=order.id)
    assert summary.total_cents == 150_000
    assert summary.is_high_value is True
    assert OrderSummary.objects.filter(is_high_value=True).count() == 1


def test_replaying_events_changes_nothing(place, actor, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        order = place()
        dispatch(ApproveOrder(order_id=order.id), actor=actor)
    before = OrderSummary.objects.filter(pk=order.id).values().get()

    changed = apply_events(Event.objects.filter(stream_id=order.id))

    assert changed == 0
    assert OrderSummary.objects.filter(pk=order.id).values().get() == before


def test_an_older_event_never_overwrites_a_newer_state(
    place, actor, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        order = place()
        dispatch(CancelOrder(order_id=order.id, reason="fraud"), actor=actor)
    approved_v2_would_be = Event(
        stream_id=order.id,
        version=2,
        type="OrderApproved",
        data={"order_id": str(order.id), "approved_by": "late", "approved_at": ""},
    )
    assert apply_events([approved_v2_would_be]) == 0
    assert OrderSummary.objects.get(pk=order.id).status == OrderStatus.CANCELLED


def test_a_failing_projection_is_logged_and_the_command_still_succeeds(
    place, monkeypatch, caplog, django_capture_on_commit_callbacks
):
    def broken(row, event):
        raise RuntimeError("read database unavailable")

    monkeypatch.setattr(projection, "evolve", broken)
    with (
        caplog.at_level(logging.ERROR, logger="orders_read.engine.inline"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        order = place()

    assert Order.objects.filter(pk=order.id).exists()
    assert Event.objects.filter(stream_id=order.id).exists()
    assert not OrderSummary.objects.filter(pk=order.id).exists()
    assert "read database unavailable" in caplog.text


# Real commits: outside a test's transaction, as in production, each projection
# applied alone after the failure commits on its own.
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("failing", "written"),
    [(daily_sales, order_summary), (order_summary, daily_sales)],
    ids=["daily_sales fails", "order_summary fails"],
)
def test_a_projection_failing_in_the_database_leaves_the_others_rows_written(
    failing, written, place, monkeypatch, caplog, django_capture_on_commit_callbacks
):
    """The inline projections share one transaction; one failing (its statement refused,
    which on PostgreSQL aborts the transaction) still leaves the other's row written."""

    def broken(events, tables=None):
        with connections[router.db_for_write(failing.models[0])].cursor() as cursor:
            cursor.execute("SELECT * FROM no_such_table")

    monkeypatch.setattr(failing, "apply", broken)
    # On PostgreSQL the two go as one query first: there it fails the same way.
    monkeypatch.setattr(
        failing,
        "inline_statements",
        lambda connection, events: [("SELECT * FROM no_such_table", None)],
    )
    with (
        caplog.at_level(logging.ERROR, logger="orders_read.engine.inline"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        order = place()

    summary_written = OrderSummary.objects.filter(pk=order.id).exists()
    day_counted = DailySales.objects.filter(placed_count=1).exists()
    assert (summary_written, day_counted) == (written is order_summary, written is daily_sales)
    # Nothing of the failed one was kept (its ledger neither): catch-up will apply it.
    assert DailySalesApplied.objects.exists() == (written is daily_sales)
    assert f"Projection {failing.name} failed" in caplog.text
    assert f"Projection {written.name} failed" not in caplog.text


@postgres_only("several statements in one query are PostgreSQL's simple query protocol")
@pytest.mark.django_db(transaction=True)
def test_the_projections_one_query_is_one_transaction(
    place, monkeypatch, django_capture_on_commit_callbacks
):
    """daily_sales's statement failing after order_summary's, in their one query, takes
    order_summary's row back with it; then each is applied alone (here: not at all)."""
    monkeypatch.setattr(
        daily_sales, "inline_statements", lambda connection, events: [("SELECT 1 / 0", None)]
    )
    alone = []

    def not_applied(projection, events):
        alone.append(projection)
        return False

    monkeypatch.setattr(inline, "_apply_alone", not_applied)
    read = connections[router.db_for_write(OrderSummary)]
    with (
        CaptureQueriesContext(read) as queries,
        django_capture_on_commit_callbacks(execute=True),
    ):
        order = place()

    [query] = [query["sql"] for query in queries if "SELECT 1 / 0" in query["sql"]]
    assert 'INSERT INTO "orders_read_ordersummary"' in query.split("SELECT 1 / 0")[0]
    assert alone == [order_summary, daily_sales]
    assert not OrderSummary.objects.filter(pk=order.id).exists()


@postgres_only("several statements in one query are PostgreSQL's simple query protocol")
@pytest.mark.django_db(transaction=True)
def test_the_projections_one_query_delivered_twice_counts_once(
    place, monkeypatch, django_capture_on_commit_callbacks
):
    """The inline path and the follower can both deliver a command's events."""
    monkeypatch.setattr(inline, "_time_to_advance", lambda projection: False)
    with django_capture_on_commit_callbacks(execute=True):
        order = place()
    events = list(event_log.records(Event.objects.filter(stream_id=order.id)))
    read = connections[router.db_for_write(OrderSummary)]

    with CaptureQueriesContext(read) as queries:
        inline.project_committed_events(sender=None, events=events)

    [query] = [query["sql"] for query in queries]  # the same one query, again
    assert '; INSERT INTO "orders_read_ordersummary"' in query
    assert '; WITH claimed AS (INSERT INTO "orders_read_dailysalesapplied"' in query
    assert OrderSummary.objects.get(pk=order.id).version == 1
    assert DailySales.objects.get().placed_count == 1
    assert DailySalesApplied.objects.count() == 1


# What a statement of the read model's transaction saw: synchronous_commit, kept in the
# session for the test to read after the COMMIT.
NOTE_COMMIT_SETTING = (
    "SELECT set_config('orders_test.synchronous_commit', "
    "current_setting('synchronous_commit'), false)"
)


@pytest.fixture
def commit_setting_seen(monkeypatch):
    """Run ``NOTE_COMMIT_SETTING`` in daily_sales' inline work, whichever path takes it;
    returns a reader of what it saw."""
    read = connections[router.db_for_write(DailySales)]
    statements, apply = daily_sales.inline_statements, daily_sales.apply

    def noting_statements(connection, events):
        return [*statements(connection, events), (NOTE_COMMIT_SETTING, None)]

    def noting_apply(events, tables=None):
        with read.cursor() as cursor:
            cursor.execute(NOTE_COMMIT_SETTING)
        return apply(events, tables) if tables else apply(events)

    monkeypatch.setattr(daily_sales, "inline_statements", noting_statements)
    monkeypatch.setattr(daily_sales, "apply", noting_apply)

    def seen():
        with read.cursor() as cursor:
            cursor.execute("SELECT current_setting('orders_test.synchronous_commit', true)")
            return cursor.fetchone()[0]

    return seen


@postgres_only("synchronous_commit is PostgreSQL's")
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("command", ["place", "approve"], ids=["one query", "transaction"])
@pytest.mark.parametrize(
    ("synchronous", "expected"), [(False, "off"), (True, "on")], ids=["default", "set to wait"]
)
def test_the_inline_projection_commits_without_waiting_for_the_disk_unless_told(
    command,
    synchronous,
    expected,
    place,
    actor,
    settings,
    commit_setting_seen,
    django_capture_on_commit_callbacks,
):
    """By default its transaction commits asynchronously (catch-up repairs what a crash
    takes back); ``ORDERS_INLINE_SYNCHRONOUS_COMMIT`` makes it wait, as the command's does."""
    settings.ORDERS_INLINE_SYNCHRONOUS_COMMIT = synchronous
    with django_capture_on_commit_callbacks(execute=True):
        order = place()
        if command == "approve":
            assert dispatch(ApproveOrder(order_id=order.id), actor=actor).success

    assert commit_setting_seen() == expected
    assert DailySales.objects.get().placed_count == 1


def test_inline_projection_can_be_switched_off(place, settings, django_capture_on_commit_callbacks):
    settings.ORDERS_INLINE_PROJECTION = False
    with django_capture_on_commit_callbacks(execute=True):
        order = place()
    assert Event.objects.filter(stream_id=order.id).exists()
    assert not OrderSummary.objects.exists()


def test_a_read_database_that_cannot_be_reached_is_tried_once_per_command(
    place, monkeypatch, caplog, django_capture_on_commit_callbacks
):
    """Not once more per projection: each try would wait out the connection timeout."""
    tries = []

    def refused(events, tables=None):
        tries.append(events)
        raise OperationalError("connection refused")

    for each in (order_summary, daily_sales):
        monkeypatch.setattr(each, "apply", refused)
    read = connections[router.db_for_write(OrderSummary)]
    monkeypatch.setattr(read, "is_usable", lambda: False)  # the server is gone
    with (
        caplog.at_level(logging.ERROR, logger="orders_read.engine.inline"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        order = place()
    monkeypatch.undo()

    assert len(tries) == 1
    assert Event.objects.filter(stream_id=order.id).exists()  # the command committed
    assert "unavailable; catch-up will apply" in caplog.text
