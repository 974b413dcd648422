"""rebuild_projections: same rows as the inline path, atomic switch, nothing lost."""

import io

import pytest
from django.core.management import call_command

from orders_read import models
from orders_read.engine import rebuild as rebuild_module
from orders_read.engine.catchup import get_checkpoint, read_database
from orders_read.engine.rebuild import can_fold_in_sql, rebuild
from orders_read.models import DeadLetter, OrderSummary
from orders_read.order_summary import fold
from orders_read.order_summary import projection as summary_projection
from orders_read.order_summary.projection import order_summary
from orders_write import event_log
from orders_write.bus import dispatch
from orders_write.commands import ApproveOrder
from orders_write.models import Event
from tests.read_model import summary_rows, varied_history

# The rebuild swaps tables: DDL that SQLite only allows outside a transaction.
pytestmark = pytest.mark.django_db(transaction=True)


def test_rebuild_gives_the_same_rows_as_the_inline_path(place, actor):
    varied_history(place, actor, count=20)
    inline = summary_rows()

    out = io.StringIO()
    call_command("rebuild_projections", "--batch-size", "3", stdout=out)

    assert summary_rows() == inline
    assert "rebuilt 20 rows from" in out.getvalue()
    head = Event.objects.order_by("-position").first()
    assert get_checkpoint("order_summary") >= event_log.position_of(head)


def test_rebuild_repairs_rows_and_keeps_the_table_whole(place, actor):
    orders = varied_history(place, actor, count=6)
    expected = summary_rows()
    OrderSummary.objects.filter(pk=orders[0].id).delete()
    OrderSummary.objects.filter(pk=orders[1].id).update(status="CANCELLED", total_cents=1)

    rebuild(order_summary, batch_size=2)

    assert summary_rows() == expected
    tables = read_database().introspection.table_names()
    assert "orders_read_ordersummary" in tables
    assert "orders_read_ordersummary_rebuild" not in tables
    with read_database().cursor() as cursor:
        constraints = read_database().introspection.get_constraints(
            cursor, "orders_read_ordersummary"
        )
    assert {index.name for index in OrderSummary._meta.indexes} <= set(constraints)


def test_an_interrupted_rebuild_leaves_the_old_rows_serving(place, actor, monkeypatch):
    varied_history(place, actor, count=6)
    OrderSummary.objects.filter(status="PENDING").update(customer_name="stale but serving")
    before = summary_rows()

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(rebuild_module, "_swap", interrupted)
    with pytest.raises(KeyboardInterrupt):
        rebuild(order_summary)

    assert summary_rows() == before
    assert "orders_read_ordersummary_rebuild" not in read_database().introspection.table_names()


@pytest.mark.parametrize("fold", ["_fold_into", "_fold_in_sql"])
def test_events_committed_during_the_rebuild_are_in_the_result(
    place, actor, monkeypatch, settings, fold
):
    if fold == "_fold_in_sql" and not can_fold_in_sql(read_database()):
        pytest.skip("the set-based fold needs the log and the read model in one PostgreSQL")
    orders = varied_history(place, actor, count=4)
    late = {}
    real_fold = getattr(rebuild_module, fold)

    def fold_then_commit_more(*args, **kwargs):
        folded = real_fold(*args, **kwargs)
        # Commands commit while the copy is being built, with the inline path off.
        settings.ORDERS_INLINE_PROJECTION = False
        late["order"] = place(1)
        dispatch(ApproveOrder(order_id=orders[0].id), actor=actor)
        return folded

    monkeypatch.setattr(rebuild_module, fold, fold_then_commit_more)
    result = rebuild(order_summary, set_based=fold == "_fold_in_sql")

    assert result.caught_up == 2
    assert OrderSummary.objects.get(pk=late["order"].id).status == "PENDING"
    assert OrderSummary.objects.get(pk=orders[0].id).status == "APPROVED"


def test_a_poison_event_during_rebuild_is_dead_lettered(place, actor, monkeypatch):
    orders = varied_history(place, actor, count=3)
    real_evolve = summary_projection.evolve

    def evolve(row, event):
        if event.stream_id == orders[1].id:
            raise ValueError("poison")
        return real_evolve(row, event)

    monkeypatch.setattr(summary_projection, "evolve", evolve)
    result = rebuild(order_summary, set_based=False)

    assert len(result.failures) == 2  # placed + approved
    assert set(DeadLetter.objects.values_list("stream_id", flat=True)) == {orders[1].id}
    assert not OrderSummary.objects.filter(pk=orders[1].id).exists()
    assert OrderSummary.objects.count() == 2


def test_the_dashboard_serves_the_old_rows_until_the_switch(place, actor, monkeypatch, staff):
    from rest_framework.test import APIClient

    varied_history(place, actor, count=4)
    OrderSummary.objects.update(customer_name="before the rebuild")
    client = APIClient()
    client.force_authenticate(staff)
    seen_during = []
    real_swap = rebuild_module._swap

    def swap_after_looking(*args, **kwargs):
        # The copy is complete and indexed; the dashboard still reads the old table.
        response = client.get("/orders/dashboard")
        seen_during.extend(row["customer_name"] for row in response.json()["results"])
        return real_swap(*args, **kwargs)

    monkeypatch.setattr(rebuild_module, "_swap", swap_after_looking)
    rebuild(order_summary)

    assert seen_during == ["before the rebuild"] * 4
    after = client.get("/orders/dashboard").json()["results"]
    assert "before the rebuild" not in {row["customer_name"] for row in after}


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_with_rate_and_eta_on_a_terminal(place, actor):
    varied_history(place, actor, count=6)
    out = Terminal()
    call_command("rebuild_projections", "--batch-size", "2", stdout=out)
    progress = out.getvalue()
    assert "\r" in progress
    assert "events/s, ETA" in progress
    assert f"{Event.objects.count()}/{Event.objects.count()} events (100%)" in progress


@pytest.mark.parametrize("set_based", [True, False], ids=["set-based", "python"])
def test_both_folds_give_the_rows_of_the_inline_path(place, actor, set_based):
    orders = varied_history(place, actor, count=12)
    # A total that needs thousands separators, and a status event recorded before the
    # order was placed (ignored by evolve): the fold must agree on both.
    big = place(0, 0, 3)
    Event.objects.create(
        stream_id=orders[0].id,
        version=0,
        type="OrderApproved",
        data={"order_id": str(orders[0].id), "approved_by": "x", "approved_at": "2020-01-01"},
    )
    inline = summary_rows()
    OrderSummary.objects.all().delete()

    result = rebuild(order_summary, set_based=set_based)

    assert summary_rows() == inline
    assert inline[big.id]["formatted_total"] == "$300,000.00"
    expected = "sql" if set_based and can_fold_in_sql(read_database()) else "python"
    assert result.method == expected


def test_an_event_the_set_based_fold_cannot_read_falls_back_to_python(place, actor):
    orders = varied_history(place, actor, count=3)
    placed = Event.objects.get(stream_id=orders[1].id, version=1)
    Event.objects.filter(pk=placed.pk).update(data={**placed.data, "total_cents": "12"})

    result = rebuild(order_summary)

    assert result.method == "python"
    assert [(event.position, type(error)) for event, error in result.failures] == [
        (placed.position, TypeError)
    ]
    assert set(DeadLetter.objects.values_list("stream_id", flat=True)) == {orders[1].id}
    assert not OrderSummary.objects.filter(pk=orders[1].id).exists()
    assert OrderSummary.objects.count() == 2


@pytest.fixture
def display_order_reversed(monkeypatch):
    """Every list of the columns in the opposite order: ``DASHBOARD_FIELDS`` (as if
    reordered for display) and the fold's own (its payload columns, the columns the
    projection writes)."""
    fields = models.DASHBOARD_FIELDS
    shown = list(fields)
    fields.reverse()  # in place: every module holding the list sees the new order
    monkeypatch.setattr(fold, "FROM_PAYLOAD", fold.FROM_PAYLOAD[::-1])
    monkeypatch.setattr(summary_projection, "COLUMNS", fold.COLUMNS[::-1])
    yield
    fields[:] = shown


@pytest.mark.parametrize("set_based", [True, False], ids=["set-based", "python"])
def test_the_display_order_of_the_fields_changes_nothing_a_rebuild_writes(
    place, actor, set_based, display_order_reversed
):
    varied_history(place, actor, count=8)
    inline = summary_rows()
    OrderSummary.objects.all().delete()

    result = rebuild(order_summary, set_based=set_based)

    assert summary_rows() == inline
    expected = "sql" if set_based and can_fold_in_sql(read_database()) else "python"
    assert result.method == expected
