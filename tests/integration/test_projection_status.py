"""Lag stays cheap to ask for, however far behind catch-up is."""

import datetime

import pytest
from django.core.management import call_command

from orders_read import status as status_module
from orders_read.catchup import catch_up, get_checkpoint
from orders_read.projections import order_summary
from orders_read.status import projection_status
from orders_write import event_log
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

    assert status.lag_events == 3
    assert status.lag_events_text == "3+"
    call_command("projection_status")
    assert "lag 3+ events" in capsys.readouterr().out


def test_lag_below_the_limit_is_exact(backlog):
    status = projection_status("order_summary")

    assert status.lag_events == len(backlog)
    assert status.lag_events_text == str(len(backlog))


def test_lag_seconds_is_the_age_of_the_event_catch_up_reads_next(backlog):
    now = datetime.datetime.now(datetime.UTC)
    pending = event_log.after(get_checkpoint("order_summary"), horizon=event_log.MAX_BIGINT)
    next_event = pending.first()

    status = projection_status("order_summary", now=now)

    assert next_event.stream_id == backlog[0].id
    assert status.lag_seconds == (now - next_event.occurred_at).total_seconds()


def test_no_lag_once_caught_up(backlog):
    catch_up(order_summary)

    status = projection_status("order_summary")

    assert (status.lag_events, status.lag_seconds) == (0, 0.0)
    assert status.head_position == Event.objects.order_by("-position").first().position
