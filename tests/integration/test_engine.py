"""The engine runs a projection it has never heard of: orders per customer, an aggregate.

Its rows are not one per order, so they cannot carry a stream version: it counts the
events ``ledger.claim`` gives it. Its models live in a registry of their own (never in
migrations); the fixture creates their tables and registers it for one test.
"""

import io
import sys
import threading
from collections import Counter

import pytest
from django.apps.registry import Apps
from django.core.management import call_command
from django.db import connections, models, router, transaction
from django.test import TestCase, override_settings

from orders_read.engine import rebuild as rebuild_module
from orders_read.engine import registry
from orders_read.engine.catchup import catch_up, get_checkpoint, read_database
from orders_read.engine.inline import apply_events
from orders_read.engine.ledger import AppliedEvents, claim
from orders_read.engine.projection import LIVE, Projection
from orders_read.engine.rebuild import rebuild
from orders_read.engine.status import projection_status
from orders_read.models import DeadLetter, OrderSummary, ProjectionCheckpoint
from orders_write import event_log
from orders_write.bus import dispatch
from orders_write.commands import OrderLine, PlaceOrder
from orders_write.events import OrderPlaced
from orders_write.models import Event, Order
from tests.conftest import postgres_only
from tests.factories import PaymentMethodFactory
from tests.read_model import summary_rows
from tests.threads import InThread, wait_until

# Real commits: catch-up waits for open writers on PostgreSQL; the rebuild swaps tables.
pytestmark = pytest.mark.django_db(transaction=True)

isolated = Apps()


class CustomerOrders(models.Model):
    customer_id = models.BigIntegerField(primary_key=True)
    orders = models.PositiveIntegerField()

    class Meta:
        app_label = "orders_read"
        db_table = "test_customer_orders"
        apps = isolated

    def __str__(self):
        return f"customer {self.customer_id}: {self.orders} orders"


class CustomerOrdersApplied(AppliedEvents):
    class Meta:
        app_label = "orders_read"
        db_table = "test_customer_orders_applied"
        apps = isolated


class OrdersPerCustomer(Projection):
    name = "orders_per_customer"
    models = (CustomerOrders, CustomerOrdersApplied)
    event_types = frozenset({OrderPlaced.type})

    def __init__(self):
        self.poisoned = set()  # streams it cannot apply, as a bug would
        # Count every event given, with no ledger: trust the engine to give each once.
        self.trusting = False

    def apply(self, events, tables=LIVE):
        # The engine runs this in a transaction: the claim and the counts commit together.
        table = tables[CustomerOrders]
        database = connections[router.db_for_write(table)]
        placed = Counter()
        fresh = events if self.trusting else claim(tables[CustomerOrdersApplied], events)
        for event in fresh:
            if event.stream_id in self.poisoned:
                raise ValueError(f"cannot count {event.stream_id}")
            placed[event.data["customer_id"]] += 1
        name = database.ops.quote_name(table._meta.db_table)
        with database.cursor() as cursor:
            for customer_id in sorted(placed):
                cursor.execute(
                    f"INSERT INTO {name} (customer_id, orders) VALUES (%s, %s) "
                    f"ON CONFLICT (customer_id) DO UPDATE "
                    f"SET orders = {name}.orders + EXCLUDED.orders",
                    [customer_id, placed[customer_id]],
                )
        return len(placed)


@pytest.fixture
def orders_per_customer(transactional_db):
    projection = OrdersPerCustomer()
    with read_database().schema_editor() as editor:
        for model in projection.models:
            editor.create_model(model)
    registry.register(projection)
    yield projection
    registry.unregister(projection.name)
    with read_database().schema_editor() as editor:
        for model in projection.models:
            editor.delete_model(model)


@pytest.fixture
def place_for_customers(products, actor):
    """Place ``count`` orders for each of three customers (committed, hooks run)."""

    def place(count, *, project=True):
        for payment_method in PaymentMethodFactory.create_batch(3):
            for _ in range(count):
                with (
                    override_settings(ORDERS_INLINE_PROJECTION=project),
                    TestCase.captureOnCommitCallbacks(execute=True),
                ):
                    _place(payment_method, products, actor)

    return place


def _place(payment_method, products, actor):
    result = dispatch(
        PlaceOrder(
            customer_id=payment_method.customer_id,
            payment_method_id=payment_method.pk,
            items=(OrderLine(product_id=products[0].pk, quantity=1),),
        ),
        actor=actor,
    )
    return Order.objects.get(pk=result.data["order_id"])


def counts():
    return dict(CustomerOrders.objects.values_list("customer_id", "orders"))


def expected_counts():
    return dict(Counter(Order.objects.values_list("customer_id", flat=True)))


def test_inline_path_and_replays_count_each_order_once(orders_per_customer, place_for_customers):
    place_for_customers(2)
    assert counts() == expected_counts()
    assert len(counts()) == 3

    # Every event again: through the inline path's entry point, then catch-up from the start.
    assert apply_events(Event.objects.order_by("position")) == 0
    # (The inline path moved the checkpoint over what it applied: start again.)
    ProjectionCheckpoint.objects.filter(name=orders_per_customer.name).delete()
    result = catch_up(orders_per_customer)

    assert result.events == Event.objects.count()
    assert counts() == expected_counts()


def test_an_inline_apply_that_fails_leaves_nothing_claimed(
    orders_per_customer, place_for_customers
):
    """The engine runs the inline apply in a transaction: a failure after the claim
    rolls the claim back too, so catch-up still counts the event."""
    place_for_customers(1, project=False)
    events = list(event_log.records(Event.objects.order_by("position")))
    orders_per_customer.poisoned.add(events[-1].stream_id)

    with pytest.raises(ValueError, match="cannot count"):
        apply_events(events)
    assert not CustomerOrdersApplied.objects.exists()

    orders_per_customer.poisoned.clear()
    catch_up(orders_per_customer)
    assert counts() == expected_counts()


def test_catch_up_counts_what_the_inline_path_missed(orders_per_customer, place_for_customers):
    place_for_customers(2, project=False)
    assert counts() == {}

    catch_up(orders_per_customer, batch_size=2)
    assert counts() == expected_counts()

    ProjectionCheckpoint.objects.filter(name=orders_per_customer.name).delete()
    catch_up(orders_per_customer)  # the whole log again
    assert counts() == expected_counts()


def test_rebuild_copies_and_swaps_every_table_it_owns(orders_per_customer, place_for_customers):
    place_for_customers(2)
    CustomerOrders.objects.update(orders=999)
    CustomerOrdersApplied.objects.all().delete()
    OrderSummary.objects.update(customer_name="stale: not this projection's to rebuild")
    summaries = summary_rows()
    summary_checkpoint = get_checkpoint("order_summary")

    out = io.StringIO()
    call_command("rebuild_projections", "--projection", orders_per_customer.name, stdout=out)

    assert counts() == expected_counts()
    placed = Event.objects.filter(type=OrderPlaced.type)
    assert set(CustomerOrdersApplied.objects.values_list("event_id", flat=True)) == set(
        placed.values_list("event_id", flat=True)
    )
    assert f"{orders_per_customer.name}: rebuilt" in out.getvalue()
    assert not [name for name in read_database().introspection.table_names() if "rebuild" in name]
    # The other projection kept its rows and its checkpoint.
    assert summary_rows() == summaries
    assert get_checkpoint("order_summary") == summary_checkpoint
    head = Event.objects.order_by("-position").first()
    assert get_checkpoint(orders_per_customer.name) >= event_log.position_of(head)
    # The swapped-in ledger agrees with the swapped-in counts: a replay adds nothing.
    assert apply_events(placed) == 0
    assert counts() == expected_counts()


def test_a_poison_event_is_dead_lettered_then_retried(
    orders_per_customer, place_for_customers, capsys
):
    place_for_customers(2, project=False)
    poisoned = Order.objects.order_by("placed_at").first()
    orders_per_customer.poisoned.add(poisoned.id)

    result = catch_up(orders_per_customer)

    assert result.dead_lettered == 1
    letter = DeadLetter.objects.get(projection=orders_per_customer.name)
    assert (letter.stream_id, letter.event_type) == (poisoned.id, OrderPlaced.type)
    assert "cannot count" in letter.error
    short = expected_counts()
    short[poisoned.customer_id] -= 1
    assert counts() == short
    call_command("projection_status")
    assert f"{orders_per_customer.name}: checkpoint" in capsys.readouterr().out

    orders_per_customer.poisoned.clear()  # the bug is fixed
    fixed = catch_up(orders_per_customer)

    assert (fixed.retried, fixed.recovered) == (1, 1)
    assert not DeadLetter.objects.exists()
    assert counts() == expected_counts()


def waiting_for_a_lock(table=None):
    """How many other sessions wait for a lock (on ``table``, if given)."""
    with read_database().cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE NOT granted"
            + (" AND relation = %s::regclass" if table else ""),
            [table] if table else [],
        )
        return cursor.fetchone()[0]


@postgres_only("two transactions claiming the same events at once")
def test_concurrent_appliers_count_each_event_once(orders_per_customer, place_for_customers):
    place_for_customers(2, project=False)
    events = list(event_log.records(Event.objects.order_by("position")))
    first_applied, release = threading.Event(), threading.Event()

    def first():
        with transaction.atomic(using=read_database().alias):
            written = orders_per_customer.apply(events)
            first_applied.set()
            release.wait(timeout=30)  # commit only once the second one waits on it
        return written

    def second():
        with transaction.atomic(using=read_database().alias):
            return orders_per_customer.apply(events)

    first_thread, second_thread = InThread(first), InThread(second)
    first_thread.start()
    assert first_applied.wait(timeout=30)
    second_thread.start()
    try:
        wait_until(lambda: waiting_for_a_lock() >= 1)
    finally:
        release.set()

    assert (first_thread.outcome(), second_thread.outcome()) == (3, 0)
    assert counts() == expected_counts()


@postgres_only("table locks between a rebuild and an inline write")
def test_a_rebuild_never_deadlocks_with_an_inline_write_in_flight(
    orders_per_customer, place_for_customers, monkeypatch
):
    """The inline write holds the ledger when the swap begins: the swap waits for it.

    The swap locks the tables in the order the projection's writes take them (the
    ledger first), so the write finishes and the swap follows, never each waiting for
    the other.
    """
    place_for_customers(1)
    place_for_customers(1, project=False)
    last = list(event_log.records(Event.objects.order_by("-position")[:1]))
    ledger = CustomerOrdersApplied._meta.db_table
    real_claim = claim
    inline = InThread(lambda: apply_events(last))

    def claim_then_let_the_swap_queue(table, events):
        fresh = real_claim(table, events)
        if threading.current_thread() is inline:
            # Holding the ledger, the write goes on only once the swap waits for it.
            wait_until(lambda: waiting_for_a_lock(ledger) >= 1)
        return fresh

    monkeypatch.setattr(sys.modules[__name__], "claim", claim_then_let_the_swap_queue)
    real_hold_off = rebuild_module._hold_off_inline_writes

    def hold_off_during_an_inline_write(connection_, tables):
        inline.start()
        wait_until(lambda: _ledger_held_by_another_session(ledger))
        real_hold_off(connection_, tables)

    monkeypatch.setattr(rebuild_module, "_hold_off_inline_writes", hold_off_during_an_inline_write)

    rebuild(orders_per_customer)

    # A row per projection: its order's summary, its customer's count, its day's sales.
    assert inline.outcome() == len(registry.names())
    assert counts() == expected_counts()


def _ledger_held_by_another_session(table):
    with read_database().cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE granted AND mode = 'RowExclusiveLock' "
            "AND relation = %s::regclass AND pid <> pg_backend_pid()",
            [table],
        )
        return cursor.fetchone()[0] >= 1


def test_an_aggregate_reflects_what_its_ledger_holds(orders_per_customer, place_for_customers):
    place_for_customers(1)
    assert projection_status(orders_per_customer.name).lag_events == 0

    place_for_customers(1, project=False)  # three events the inline path never saw

    assert projection_status(orders_per_customer.name).lag_events == 3
    catch_up(orders_per_customer)
    assert projection_status(orders_per_customer.name).lag_events == 0


@postgres_only("two catch-up runners in concurrent transactions")
def test_two_appliers_that_both_believe_they_hold_the_lock_apply_a_batch_once(
    orders_per_customer, place_for_customers, monkeypatch
):
    """No advisory lock at all: both read the same checkpoint and the same batch.

    The projection keeps no ledger, so a batch applied twice would count twice: only
    the checkpoint's compare-and-set stands between them.
    """
    orders_per_customer.trusting = True
    place_for_customers(2, project=False)
    both_read_the_batch = threading.Barrier(2)
    real_records = event_log.records

    def records(*args, **kwargs):
        batch = list(real_records(*args, **kwargs))
        if batch:
            both_read_the_batch.wait(timeout=10)
        return iter(batch)

    monkeypatch.setattr(event_log, "records", records)
    appliers = [InThread(lambda: catch_up(orders_per_customer)) for _ in range(2)]
    for applier in appliers:
        applier.start()
    results = [applier.outcome() for applier in appliers]

    assert sorted(result.events for result in results) == [0, Event.objects.count()]
    assert counts() == expected_counts()
    last = Event.objects.order_by("transaction_id", "position").last()
    assert get_checkpoint(orders_per_customer.name) == event_log.position_of(last)
