"""Lag stays cheap to ask for, however far behind catch-up is."""

import datetime
from unittest import mock

import pytest
from django.core.management import call_command
from django.db.models.sql.compiler import SQLCompiler

from orders_read.engine import inline
from orders_read.engine import status as status_module
from orders_read.engine.catchup import catch_up, get_checkpoint
from orders_read.engine.status import projection_lag, projection_status
from orders_read.models import DeadLetter, OrderSummary
from orders_read.order_summary.projection import order_summary
from orders_write import event_log
from orders_write.event_log import START, LogPosition
from orders_write.models import Event
from tests.conftest import postgres_only
from tests.integration.test_follow import append_placed, pg_connect

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def backlog(place, settings):
    """Five orders catch-up has not read yet (inline projection off)."""
    settings.ORDERS_INLINE_PROJECTION = False
    return [place() for _ in range(5)]


def test_lag_counts_up_to_the_limit_and_says_so(backlog, monkeypatch, capsys):
    monkeypatch.setattr(status_module, "LAG_COUNT_LIMIT", 3)

    status = projection_status("order_summary")

    assert (status.lag_events, status.lag_events_capped) == (3, True)
    assert status.as_dict()["lag_events_capped"] is True
    assert status.lag_events_text == "3+"
    call_command("projection_status")
    assert "lag 3+ events" in capsys.readouterr().out


def test_exactly_the_limit_behind_is_not_capped(backlog, monkeypatch):
    monkeypatch.setattr(status_module, "LAG_COUNT_LIMIT", len(backlog))

    status = projection_status("order_summary")

    assert (status.lag_events, status.lag_events_capped) == (len(backlog), False)
    assert status.lag_events_text == str(len(backlog))


def test_lag_seconds_is_the_age_of_the_event_catch_up_reads_next(backlog):
    now = datetime.datetime.now(datetime.UTC)
    # The last order's event claims to be an hour old: the age is still that of the
    # first event in log order, the one catch-up is stuck behind, not the oldest time.
    Event.objects.filter(stream_id=backlog[-1].id).update(
        occurred_at=now - datetime.timedelta(hours=1)
    )
    first = Event.objects.get(stream_id=backlog[0].id)

    status = projection_status("order_summary", now=now)

    assert status.lag_seconds == (now - first.occurred_at).total_seconds()
    assert status.lag_seconds < 3600


def test_no_lag_once_caught_up(backlog):
    catch_up(order_summary)

    status = projection_status("order_summary")

    assert (status.lag_events, status.lag_events_capped, status.lag_seconds) == (0, False, 0.0)
    assert status.head_position == Event.objects.order_by("-position").first().position


def test_dead_letters_are_all_counted_and_the_first_listed(backlog, monkeypatch, capsys):
    monkeypatch.setattr(status_module, "DEAD_LETTERS_LISTED", 2)
    events = list(Event.objects.order_by("position"))
    now = datetime.datetime.now(datetime.UTC)
    DeadLetter.objects.bulk_create(
        DeadLetter(
            projection="order_summary",
            position=event.position,
            event_id=event.event_id,
            stream_id=event.stream_id,
            event_type=event.type,
            error="ValueError: poison",
            first_failed_at=now,
            last_failed_at=now,
        )
        for event in reversed(events)
    )

    status = projection_status("order_summary")

    assert status.dead_letter_count == len(events)
    assert [letter.position for letter in status.dead_letters] == [
        event.position for event in events[:2]
    ]
    assert status.as_dict()["dead_letters"] == len(events)
    call_command("projection_status")
    out = capsys.readouterr().out
    assert f"{len(events)} dead letters" in out
    assert f"... and {len(events) - 2} more" in out


# Lag that tells the truth: committed events the projection does not reflect yet.


def test_with_the_inline_path_and_no_follower_the_lag_is_zero_once_writes_stop(place):
    orders = [place() for _ in range(3)]

    status = projection_status("order_summary")

    assert (status.lag_events, status.lag_seconds) == (0, 0.0)
    assert OrderSummary.objects.count() == len(orders)
    # The checkpoint moved once (the first command), not for the others within the same
    # second: the lag is what the projection does not reflect, wherever the checkpoint is.
    first = Event.objects.get(stream_id=orders[0].id)
    assert status.checkpoint.position == first.position < status.head_position


def test_the_inline_path_moves_the_checkpoint_at_most_once_a_second(place, monkeypatch):
    clock = [100.0]
    monkeypatch.setattr(inline.time, "monotonic", lambda: clock[0])

    def checkpoint_after_an_order_at(seconds):
        clock[0] = 100.0 + seconds
        order = place()
        return get_checkpoint("order_summary").position, Event.objects.get(stream_id=order.id)

    moved, first = checkpoint_after_an_order_at(0)
    kept, _ = checkpoint_after_an_order_at(0.5)
    moved_again, third = checkpoint_after_an_order_at(1.5)

    assert (moved, kept, moved_again) == (first.position, first.position, third.position)
    assert projection_status("order_summary").lag_events == 0


def test_an_event_the_inline_path_missed_is_lag_and_the_checkpoint_stops_before_it(
    place, monkeypatch
):
    first = place()
    with monkeypatch.context() as patch:
        patch.setattr(order_summary, "apply", fail_to_apply)
        patch.setattr(order_summary, "inline_statements", lambda _, events: fail_to_apply(events))
        missed = place()
    place()
    missed_event = Event.objects.get(stream_id=missed.id)
    now = datetime.datetime.now(datetime.UTC)

    status = projection_status("order_summary", now=now)

    assert status.lag_events == 1
    assert status.lag_seconds == (now - missed_event.occurred_at).total_seconds()
    assert status.checkpoint.position == Event.objects.get(stream_id=first.id).position

    assert catch_up(order_summary).events == 2
    caught_up = projection_status("order_summary")
    assert (caught_up.lag_events, caught_up.checkpoint.position) == (0, caught_up.head_position)


def fail_to_apply(events, tables=None):
    raise RuntimeError("the inline path lost this one")


@postgres_only("a writer transaction held open while later ones commit")
def test_a_long_open_writer_transaction_is_lag_once_it_commits_never_loss(place):
    blocker = pg_connect()
    try:
        held_order, held_position = append_placed(blocker)  # not committed yet
        placed = place()  # a later transaction, committed and applied inline
        status = projection_status("order_summary")
        # Everything committed is reflected...
        assert status.lag_events == 0
        # ...but the checkpoint did not step over the position still to commit.
        assert status.checkpoint.position < held_position

        blocker.commit()  # a writer whose inline path never runs (it died after COMMIT)
        assert projection_status("order_summary").lag_events == 1
    finally:
        blocker.close()
    assert catch_up(order_summary).events == 2
    assert set(OrderSummary.objects.values_list("order_id", flat=True)) == {held_order, placed.id}
    assert projection_status("order_summary").lag_events == 0


def test_the_lag_window_is_the_logs_headers_after_the_checkpoint(backlog):
    """``headers_after`` (written out on PostgreSQL) reads what the ORM's query reads."""
    positions = [START, *(LogPosition(e.transaction_id, e.position) for e in Event.objects.all())]

    for checkpoint in positions:
        for limit in (1, 3, 100):
            expected = event_log.headers(
                event_log.after(checkpoint, horizon=event_log.MAX_BIGINT)[:limit]
            )
            assert event_log.headers_after(checkpoint, limit) == expected


@postgres_only("SQLite reads the lag's window through the ORM, which converts its text columns")
def test_the_lag_of_a_current_projection_compiles_no_orm_query(place):
    """The stats' "as of" and ``/health`` read the lag on every request: two statements
    built once, where the ORM compiled both (most of the lag's CPU)."""
    place()
    catch_up(order_summary)
    assert get_checkpoint("order_summary") != START

    with mock.patch.object(SQLCompiler, "as_sql", side_effect=AssertionError("compiled")):
        lag = projection_lag("order_summary")

    assert (lag.events, lag.checkpoint) == (0, get_checkpoint("order_summary"))
