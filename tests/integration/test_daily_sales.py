"""daily_sales: exact figures whatever the history, and whatever order events arrive in.

The figures are compared with COUNT and SUM over the order summaries (the issue's
definition of exact). Histories are random but seeded (a property over many shapes,
reproducible by its seed): places, approvals and cancellations on days spread over
a month, then every event re-delivered in shuffled, overlapping batches.
"""

import datetime
import io
import random
import threading
from unittest import mock

import pytest
from django.core.management import CommandError, call_command
from django.db import connections, router, transaction
from django.db.models import Count, Q, Sum
from django.test import TestCase, override_settings

from orders_read.daily_sales import projection as daily_module
from orders_read.daily_sales.projection import COUNTERS, daily_sales
from orders_read.engine.catchup import catch_up, get_checkpoint
from orders_read.engine.inline import apply_events
from orders_read.models import DailySales, DailySalesApplied, DeadLetter, ProjectionCheckpoint
from orders_write import event_log
from orders_write.bus import dispatch
from orders_write.commands import ApproveOrder, CancelOrder
from orders_write.models import Event, OrderStatus
from tests.conftest import postgres_only
from tests.read_model import summary_rows
from tests.threads import InThread, backends_waiting_for_locks, wait_until

# Real commits: catch-up and rebuild as in production.
pytestmark = pytest.mark.django_db(transaction=True)

START = datetime.datetime(2026, 3, 1, 22, 0, tzinfo=datetime.UTC)


def daily_rows():
    return {row.pop("day"): row for row in DailySales.objects.values("day", *COUNTERS)}


def expected_from_summaries():
    """COUNT and SUM over the summaries, by UTC day placed (zero days left out)."""
    from orders_read.models import OrderSummary

    def status(name):
        return Q(status=name)

    rows = (
        OrderSummary.objects.values("day_placed")
        .annotate(
            placed_count=Count("order_id"),
            placed_cents=Sum("total_cents"),
            approved_count=Count("order_id", filter=status(OrderStatus.APPROVED)),
            approved_cents=Sum("total_cents", filter=status(OrderStatus.APPROVED), default=0),
            cancelled_count=Count("order_id", filter=status(OrderStatus.CANCELLED)),
            cancelled_cents=Sum("total_cents", filter=status(OrderStatus.CANCELLED), default=0),
        )
        .order_by()
    )
    return {row.pop("day_placed"): row for row in rows}


def nonzero(rows):
    return {day: row for day, row in rows.items() if any(row.values())}


def random_history(rng, place, actor, steps, *, project=True):
    """``steps`` random commands (place, approve, cancel) at times spread over a month.

    Refused commands (cancelling a cancelled order) are part of the history too.
    """
    orders = []
    for _ in range(steps):
        at = START + datetime.timedelta(hours=rng.randrange(24 * 30))
        with (
            mock.patch("django.utils.timezone.now", return_value=at),
            override_settings(ORDERS_INLINE_PROJECTION=project),
            TestCase.captureOnCommitCallbacks(execute=True),
        ):
            action = rng.choice(["place", "place", "approve", "cancel"]) if orders else "place"
            if action == "place":
                orders.append(place(rng.randrange(1, 4), rng.randrange(2), rng.randrange(2)))
            elif action == "approve":
                dispatch(ApproveOrder(order_id=rng.choice(orders).id), actor=actor)
            else:
                dispatch(CancelOrder(order_id=rng.choice(orders).id, reason="test"), actor=actor)
    return orders


def shuffled_batches(rng, events):
    """Every event at least once, in random order, in random overlapping batches."""
    events = list(events) + rng.sample(list(events), k=len(events) // 2)
    rng.shuffle(events)
    batches, start = [], 0
    while start < len(events):
        size = rng.randrange(1, 8)
        batches.append(events[start : start + size])
        start += size
    return batches


@pytest.mark.parametrize("seed", range(4))
def test_figures_equal_counts_over_summaries_whatever_the_delivery(seed, place, actor):
    rng = random.Random(seed)
    random_history(rng, place, actor, steps=30)
    expected = expected_from_summaries()
    assert len(expected) > 3  # the history spans several days
    assert daily_rows() == expected

    # Re-delivered, shuffled and duplicated: nothing is counted twice.
    all_events = list(event_log.records(Event.objects.order_by("position")))
    for batch in shuffled_batches(rng, all_events):
        apply_events(batch)
    assert daily_rows() == expected

    # From nothing, in a random order (approvals before their placement, a cancel
    # before the approval it follows): the same figures once every event is in.
    DailySales.objects.all().delete()
    DailySalesApplied.objects.all().delete()
    for batch in shuffled_batches(rng, all_events):
        daily_sales.apply(daily_sales.handled(batch))
    assert nonzero(daily_rows()) == expected


def test_catch_up_counts_what_the_inline_path_missed_once(place, actor):
    random_history(random.Random(7), place, actor, steps=20, project=False)
    assert daily_rows() == {}

    catch_up(daily_sales, batch_size=3)
    assert daily_rows() == expected_from_summaries_of_the_log()

    ProjectionCheckpoint.objects.filter(name=daily_sales.name).delete()
    catch_up(daily_sales)  # the whole log again
    assert daily_rows() == expected_from_summaries_of_the_log()


def expected_from_summaries_of_the_log():
    """The summaries are off too when the inline path was: catch them up first."""
    from orders_read.order_summary.projection import order_summary

    catch_up(order_summary)
    return expected_from_summaries()


@postgres_only("two appliers claiming the same events at once")
@pytest.mark.parametrize("first_commits", [True, False], ids=["commits", "rolls back"])
def test_the_inline_statement_waits_for_a_claim_in_flight(first_commits, place, actor):
    """The inline path's one statement (no transaction around it) meets catch-up's claim
    of the same events, not committed yet: it waits, then counts them only if that
    transaction rolled back."""
    random_history(random.Random(13), place, actor, steps=8, project=False)
    events = daily_sales.handled(list(event_log.records(Event.objects.order_by("position"))))
    alias = router.db_for_write(DailySales)
    claimed, release = threading.Event(), threading.Event()

    def catch_up_in_flight():
        with transaction.atomic(using=alias):
            written = daily_sales.apply(events)
            claimed.set()
            release.wait(timeout=30)  # ends only once the inline statement waits on it
            transaction.set_rollback(not first_commits, using=alias)
        return written

    def inline_statement():
        assert not connections[alias].in_atomic_block
        return daily_sales.apply(events)

    first, second = InThread(catch_up_in_flight), InThread(inline_statement)
    first.start()
    assert claimed.wait(timeout=30)
    second.start()
    try:
        wait_until(lambda: backends_waiting_for_locks(alias) >= 1)
    finally:
        release.set()

    assert (first.outcome() > 0, second.outcome() > 0) == (True, not first_commits)
    assert daily_rows() == expected_from_summaries_of_the_log()


def test_rebuild_of_daily_sales_alone_keeps_the_summaries_serving(place, actor):
    random_history(random.Random(3), place, actor, steps=20)
    expected = expected_from_summaries()
    summaries = summary_rows()
    summary_checkpoint = get_checkpoint("order_summary")
    DailySales.objects.update(placed_count=999)

    out = io.StringIO()
    call_command("rebuild_projections", "--projection", "daily_sales", stdout=out)

    assert daily_rows() == expected
    assert "daily_sales: rebuilt" in out.getvalue()
    assert summary_rows() == summaries
    assert get_checkpoint("order_summary") == summary_checkpoint
    # The swapped-in ledger agrees with the swapped-in rows: a replay adds nothing.
    apply_events(Event.objects.order_by("position"))
    assert daily_rows() == expected


def test_a_poison_event_is_dead_lettered_then_counted_once(place, actor, monkeypatch):
    orders = random_history(random.Random(5), place, actor, steps=12, project=False)
    poisoned = orders[0].id
    real_placement_of = daily_module.placement_of

    def placement_of(event):
        if event.stream_id == poisoned:
            raise ValueError("cannot read this placement")
        return real_placement_of(event)

    monkeypatch.setattr(daily_module, "placement_of", placement_of)
    result = catch_up(daily_sales)
    assert result.dead_lettered >= 1
    assert DeadLetter.objects.filter(projection="daily_sales", stream_id=poisoned).exists()

    monkeypatch.setattr(daily_module, "placement_of", real_placement_of)
    retried = catch_up(daily_sales)
    assert retried.recovered >= 1
    assert not DeadLetter.objects.filter(projection="daily_sales").exists()
    assert daily_rows() == expected_from_summaries_of_the_log()


def test_verify_finds_daily_drift_and_repair_rebuilds_it(place, actor):
    random_history(random.Random(11), place, actor, steps=15)
    expected = expected_from_summaries()
    day = min(expected)
    DailySales.objects.filter(day=day).update(approved_count=-5)

    out = io.StringIO()
    with pytest.raises(CommandError, match="1 drifted"):
        call_command("verify_projections", stdout=out)
    assert f"daily_sales {day}: differs (approved_count: expected " in out.getvalue()

    out = io.StringIO()
    call_command("verify_projections", "--repair", stdout=out)
    assert "Repaired 1 drifted row(s)" in out.getvalue()
    assert daily_rows() == expected
