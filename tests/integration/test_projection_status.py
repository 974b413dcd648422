"""Lag stays cheap to ask for, however far behind catch-up is."""

import datetime

import pytest
from django.core.management import call_command

from orders_read.engine import status as status_module
from orders_read.engine.catchup import catch_up
from orders_read.engine.status import projection_status
from orders_read.models import DeadLetter
from orders_read.order_summary.projection import order_summary
from orders_write.models import Event

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
