"""/stats/summary and /stats/daily: the daily_sales figures as JSON, strict dates."""

import datetime
from contextlib import contextmanager
from unittest import mock

import pytest
from django.test import TestCase, override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from orders_write.bus import dispatch
from orders_write.commands import ApproveOrder, CancelOrder
from orders_write.models import Event
from tests.conftest import all_queries
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

NOW = datetime.datetime(2026, 6, 30, 12, 0, tzinfo=datetime.UTC)


@contextmanager
def at(days_ago, hour=9):
    """Commands run at that moment, and their on_commit hooks as a COMMIT would."""
    moment = (NOW - datetime.timedelta(days=days_ago)).replace(hour=hour)
    with (
        mock.patch("django.utils.timezone.now", return_value=moment),
        TestCase.captureOnCommitCallbacks(execute=True),
    ):
        yield


@pytest.fixture
def history(place, actor):
    """Orders today, 3 days ago and 20 days ago (approved, cancelled, pending), and one
    100 days ago; returns each order's total by name."""
    orders = {}
    with at(0):
        orders["today"] = place(1)
    with at(3):
        orders["3 days"] = place(0, 1)
        dispatch(ApproveOrder(order_id=orders["3 days"].id), actor=actor)
    with at(20):
        orders["20 days"] = place(2)
        dispatch(CancelOrder(order_id=orders["20 days"].id, reason="test"), actor=actor)
    with at(100):
        orders["100 days"] = place(0, 0, 1)
    return {name: order.total_cents for name, order in orders.items()}


def money(orders, cents):
    return {"orders": orders, "revenue_cents": cents}


def test_summary_windows_and_all_time(api_client, history):
    with at(0, hour=15):
        body = api_client.get("/stats/summary").json()

    assert body["today"] == "2026-06-30"
    today = body["windows"]["today"]
    assert today["orders"] == 1
    assert today["by_status"]["PENDING"] == money(1, history["today"])
    week = body["windows"]["last_7_days"]
    assert week["orders"] == 2
    assert week["by_status"]["APPROVED"] == money(1, history["3 days"])
    month = body["windows"]["last_30_days"]
    assert month["by_status"]["CANCELLED"] == money(1, history["20 days"])
    assert month["revenue_cents"] == history["today"] + history["3 days"] + history["20 days"]
    everything = body["all_time"]
    assert everything["orders"] == 4
    assert everything["revenue_cents"] == sum(history.values())
    assert everything["by_status"]["PENDING"] == money(2, history["today"] + history["100 days"])


def test_daily_gives_every_day_of_the_range_zeros_included(api_client, history):
    days = api_client.get("/stats/daily", {"from": "2026-06-26", "to": "2026-06-30"}).json()["days"]

    assert [day["day"] for day in days] == [f"2026-06-{n}" for n in range(26, 31)]
    by_day = {day["day"]: day for day in days}
    assert by_day["2026-06-27"]["by_status"]["APPROVED"] == money(1, history["3 days"])
    assert by_day["2026-06-28"]["orders"] == 0
    assert by_day["2026-06-30"]["by_status"]["PENDING"] == money(1, history["today"])


def test_daily_defaults_to_the_last_30_days(api_client, history):
    with at(0):
        days = api_client.get("/stats/daily").json()["days"]
    assert len(days) == 30
    assert (days[0]["day"], days[-1]["day"]) == ("2026-06-01", "2026-06-30")
    assert sum(day["orders"] for day in days) == 3


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"from": "2026-06-30", "to": "2026-06-01"}, "to"),  # reversed
        ({"from": "2025-06-29", "to": "2026-06-30"}, "to"),  # 367 days
        ({"from": "20260601", "to": "2026-06-30"}, "from"),  # not YYYY-MM-DD
        ({"from": "2026-02-30", "to": "2026-03-01"}, "from"),  # no such day
        ({"from": "2026-06-01T00:00:00Z", "to": "2026-06-30"}, "from"),  # a date-time
    ],
)
def test_a_bad_or_reversed_range_is_a_validation_error(api_client, query, field):
    response = api_client.get("/stats/daily", query)
    assert response.status_code == 400
    body = response.json()
    assert (body["success"], body["code"]) == (False, "VALIDATION_ERROR")
    assert field in body["details"]


def test_a_range_of_366_days_is_served(api_client):
    response = api_client.get("/stats/daily", {"from": "2024-01-01", "to": "2024-12-31"})
    assert response.status_code == 200
    assert len(response.json()["days"]) == 366


@pytest.mark.parametrize("path", ["/stats/summary", "/stats/daily"])
def test_the_figures_need_the_dashboard_permission(path):
    anonymous = APIClient().get(path)
    assert (anonymous.status_code, anonymous.json()["code"]) == (401, "NOT_AUTHENTICATED")
    client = APIClient()
    client.force_authenticate(UserFactory(permissions=["orders_write.add_order"]))
    denied = client.get(path)
    assert (denied.status_code, denied.json()["code"]) == (403, "PERMISSION_DENIED")


def test_as_of_says_how_far_behind_the_figures_are(api_client, place):
    place(1)
    assert_current(api_client.get("/stats/summary").json()["as_of"])

    with override_settings(ORDERS_INLINE_PROJECTION=False):
        late = place(1)  # committed, not counted yet
    place(1)  # counted at once, as usual
    body = api_client.get("/stats/summary").json()

    missing = Event.objects.get(stream_id=late.id).occurred_at
    as_of = datetime.datetime.fromisoformat(body["as_of"])
    assert abs(as_of - missing) < datetime.timedelta(milliseconds=1)
    assert body["all_time"]["orders"] == 2


def assert_current(as_of):
    behind = timezone.now() - datetime.datetime.fromisoformat(as_of)
    assert datetime.timedelta(0) <= behind < datetime.timedelta(seconds=5)


def test_the_summary_is_one_query_exact_at_each_window_edge(place):
    """Orders on the first day of each window and on the day before it, and one placed
    "tomorrow" (a clock ahead of ours): each window counts exactly its days, and all
    of them come from one statement, written as SQL (`stats.summary`)."""
    from orders_read import stats

    totals = {}
    for days_ago in (0, 6, 7, 29, 30, -1):
        with at(days_ago):
            totals[days_ago] = place(days_ago % 3 + 1).total_cents
    today = NOW.date()

    with all_queries() as queries:  # the read model may have a database of its own
        figures = stats.summary(today)
    assert len(queries) == 1

    def placed(*days):
        return (len(days), sum(totals[day] for day in days))

    assert (figures["today"].placed_count, figures["today"].placed_cents) == placed(0)
    week = figures["last_7_days"]
    assert (week.placed_count, week.placed_cents) == placed(0, 6)
    month = figures["last_30_days"]
    assert (month.placed_count, month.placed_cents) == placed(0, 6, 7, 29)
    everything = figures["all_time"]
    assert (everything.placed_count, everything.placed_cents) == placed(*totals)
    assert everything.pending_count == len(totals)
    # A window without a single day of orders is zeros, not nothing.
    assert stats.summary(today + datetime.timedelta(days=2))["today"] == stats.Figures()


def test_as_of_reads_only_the_lag(place):
    """The checkpoint, the events after it (and whether those are counted), never the
    rest of the projection's status: the log's head, the dead letters."""
    from orders_read import stats

    place(1)

    with all_queries() as queries:
        as_of = stats.as_of()

    tables = [query["sql"].split(" FROM ")[1].split()[0].strip('"') for query in queries]
    assert "orders_read_deadletter" not in tables
    assert tables.count("orders_write_event") == 1  # the events after the checkpoint
    assert len(queries) <= 3
    assert_current(as_of.isoformat())
