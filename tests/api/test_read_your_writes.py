"""GET /orders/dashboard/{id}?min_version=N&wait=MS: read your own writes, bounded."""

import time

import pytest

from orders_read import selectors
from orders_read.engine.inline import apply_events
from orders_read.models import OrderSummary
from orders_write.models import Event
from tests.conftest import all_queries

pytestmark = pytest.mark.django_db


class Sleeps(list):
    """The selector's pauses, recorded instead of slept; ``on_sleep`` hooks run in each."""

    def __init__(self):
        super().__init__()
        self.hooks = []

    def on_sleep(self, hook):
        self.hooks.append(hook)

    def __call__(self, seconds):
        self.append(seconds)
        for hook in self.hooks:
            hook()


@pytest.fixture
def sleeps(monkeypatch):
    recorded = Sleeps()
    monkeypatch.setattr(selectors, "sleep", recorded)
    return recorded


def detail(client, order_id, **params):
    return client.get(f"/orders/dashboard/{order_id}", params)


def test_with_the_inline_projection_the_write_is_readable_at_once(api_client, order_body, sleeps):
    placed = api_client.post("/orders", order_body, format="json").json()["data"]
    response = detail(api_client, placed["order_id"], min_version=placed["version"])

    assert response.status_code == 200
    assert "Read-Model-Stale" not in response
    assert response.json()["version"] == 1
    assert sleeps == []

    approved = api_client.post(f"/orders/{placed['order_id']}/approve", format="json").json()
    response = detail(api_client, placed["order_id"], min_version=approved["data"]["version"])
    assert (response.json()["status"], response.json()["version"]) == ("APPROVED", 2)
    assert sleeps == []


def test_a_current_row_costs_one_query(api_client, order_body):
    placed = api_client.post("/orders", order_body, format="json").json()["data"]
    with all_queries() as queries:
        detail(api_client, placed["order_id"], min_version=1)
    summary_queries = [q for q in queries if "ordersummary" in q["sql"]]
    assert len(summary_queries) == 1
    assert all("orders_write_" not in q["sql"] for q in queries)


def test_without_the_inline_projection_a_new_order_times_out_as_404(
    api_client, order_body, settings
):
    settings.ORDERS_INLINE_PROJECTION = False
    placed = api_client.post("/orders", order_body, format="json").json()["data"]

    started = time.monotonic()
    response = detail(api_client, placed["order_id"], min_version=1, wait=50)
    waited = time.monotonic() - started

    assert response.status_code == 404
    assert response.json()["code"] == "NOT_FOUND"
    assert response["Read-Model-Stale"] == "true"
    assert waited >= 0.05


def test_without_the_inline_projection_a_stale_row_is_answered_and_marked(
    api_client, order_body, settings
):
    placed = api_client.post("/orders", order_body, format="json").json()["data"]
    settings.ORDERS_INLINE_PROJECTION = False
    approved = api_client.post(f"/orders/{placed['order_id']}/approve", format="json").json()

    response = detail(
        api_client, placed["order_id"], min_version=approved["data"]["version"], wait=50
    )

    assert response.status_code == 200
    assert response["Read-Model-Stale"] == "true"
    assert (response.json()["status"], response.json()["version"]) == ("PENDING", 1)


def test_the_wait_ends_as_soon_as_the_projection_catches_up(
    api_client, order_body, settings, sleeps
):
    placed = api_client.post("/orders", order_body, format="json").json()["data"]
    settings.ORDERS_INLINE_PROJECTION = False
    api_client.post(f"/orders/{placed['order_id']}/approve", format="json")
    # The catch-up path (here: the event log replayed) runs during the first pause.
    sleeps.on_sleep(lambda: apply_events(Event.objects.filter(stream_id=placed["order_id"])))

    response = detail(api_client, placed["order_id"], min_version=2, wait=10_000)

    assert response.status_code == 200
    assert "Read-Model-Stale" not in response
    assert (response.json()["status"], response.json()["version"]) == ("APPROVED", 2)
    assert len(sleeps) == 1


def test_a_higher_version_than_asked_is_current(api_client, place):
    order = place()
    api_client.post(f"/orders/{order.id}/approve", format="json")
    response = detail(api_client, order.id, min_version=1, wait=0)
    assert response.status_code == 200
    assert "Read-Model-Stale" not in response
    assert response.json()["version"] == 2


def test_wait_zero_looks_once(api_client, order_body, settings, sleeps):
    settings.ORDERS_INLINE_PROJECTION = False
    placed = api_client.post("/orders", order_body, format="json").json()["data"]
    response = detail(api_client, placed["order_id"], min_version=1, wait=0)
    assert (response.status_code, response["Read-Model-Stale"]) == (404, "true")
    assert sleeps == []


def test_a_non_uuid_is_simply_not_found(api_client, db, sleeps):
    response = detail(api_client, "not-a-uuid", min_version=1)
    assert response.status_code == 404
    assert "Read-Model-Stale" not in response
    assert sleeps == []


@pytest.mark.parametrize(
    "params",
    [
        {"min_version": "0"},
        {"min_version": "-1"},
        {"min_version": "two"},
        {"min_version": str(2**31)},
        {"min_version": "1", "wait": "-1"},
        {"min_version": "1", "wait": "10001"},
        {"min_version": "1", "wait": "soon"},
        {"min_version": "1", "wait": "1.5"},
    ],
)
def test_bad_values_are_400(api_client, place, params, sleeps):
    order = place()
    response = detail(api_client, order.id, **params)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "VALIDATION_ERROR"
    assert set(body["details"]) <= {"min_version", "wait"}
    assert sleeps == []


def test_the_poll_backs_off_and_never_overruns_the_wait(db, monkeypatch):
    clock = [1000.0]
    pauses = []

    def fake_sleep(seconds):
        pauses.append(seconds)
        clock[0] += seconds

    monkeypatch.setattr(selectors, "monotonic", lambda: clock[0])
    monkeypatch.setattr(selectors, "sleep", fake_sleep)
    # The version exists in the log; only the read model is behind.
    monkeypatch.setattr(selectors, "log_has_version", lambda order_id, version: True)
    with all_queries() as queries:
        read = selectors.summary_at_version(
            "00000000-0000-0000-0000-000000000001", min_version=1, timeout=2.0
        )

    assert (read.row, read.current) == (None, False)
    assert sum(pauses) == pytest.approx(2.0)
    assert pauses[:4] == pytest.approx([0.005, 0.01, 0.02, 0.04])
    assert max(pauses) == selectors.MAX_POLL_DELAY
    assert len(queries) == len(pauses) + 1
    assert not OrderSummary.objects.exists()


def test_a_version_the_log_never_had_answers_at_once(api_client, order_body, sleeps):
    """Waiting for a version no command produced would only hold a server worker."""
    placed = api_client.post("/orders", order_body, format="json").json()["data"]

    existing = detail(api_client, placed["order_id"], min_version=99, wait=10_000)
    unknown = detail(api_client, "5bbe74b0-60cd-42c6-8b0a-b09eab4f7607", min_version=1, wait=10_000)

    assert sleeps == []
    assert (existing.status_code, existing["Read-Model-Stale"]) == (200, "true")
    assert existing.json()["version"] == 1
    assert (unknown.status_code, unknown["Read-Model-Stale"]) == (404, "true")


@pytest.mark.parametrize(
    "excluding_filter",
    [{"status": "CANCELLED"}, {"customer_email": "someone-else@example.com"}],
)
def test_a_filter_that_excludes_a_current_row_answers_at_once(
    api_client, order_body, sleeps, excluding_filter
):
    """The version is in the read model: waiting cannot make the filter match."""
    placed = api_client.post("/orders", order_body, format="json").json()["data"]

    response = detail(
        api_client, placed["order_id"], min_version=1, wait=10_000, **excluding_filter
    )

    assert response.status_code == 404
    assert "Read-Model-Stale" not in response
    assert sleeps == []


def test_a_filter_that_excludes_the_row_ends_the_wait_once_the_row_catches_up(
    api_client, order_body, settings, sleeps
):
    settings.ORDERS_INLINE_PROJECTION = False
    placed = api_client.post("/orders", order_body, format="json").json()["data"]
    sleeps.on_sleep(lambda: apply_events(Event.objects.filter(stream_id=placed["order_id"])))

    response = detail(api_client, placed["order_id"], min_version=1, wait=10_000, status="APPROVED")

    assert response.status_code == 404
    assert "Read-Model-Stale" not in response
    assert len(sleeps) == 1


def test_a_filter_that_matches_is_applied_to_the_current_row(api_client, order_body, sleeps):
    placed = api_client.post("/orders", order_body, format="json").json()["data"]
    response = detail(api_client, placed["order_id"], min_version=1, status="PENDING")
    assert (response.status_code, response.json()["status"]) == (200, "PENDING")
    assert "Read-Model-Stale" not in response


def test_reads_beyond_the_wait_slots_answer_at_once_marked_stale(
    api_client, order_body, settings, sleeps
):
    """One waiting read holds the only slot; a second one must not hold another thread."""
    settings.ORDERS_INLINE_PROJECTION = False
    settings.ORDERS_MAX_WAITING_READS = 1
    placed = api_client.post("/orders", order_body, format="json").json()["data"]
    second = []

    def second_read_while_the_first_waits():
        if not second:
            pauses_before = len(sleeps)
            response = detail(api_client, placed["order_id"], min_version=1, wait=10_000)
            second.append((response, len(sleeps) - pauses_before))

    sleeps.on_sleep(second_read_while_the_first_waits)

    first = detail(api_client, placed["order_id"], min_version=1, wait=50)

    response, its_pauses = second[0]
    assert (response.status_code, response["Read-Model-Stale"]) == (404, "true")
    assert its_pauses == 0
    assert (first.status_code, first["Read-Model-Stale"]) == (404, "true")
    assert selectors.wait_slots.taken == 0


def test_no_wait_slots_means_no_read_waits(api_client, order_body, settings, sleeps):
    settings.ORDERS_INLINE_PROJECTION = False
    settings.ORDERS_MAX_WAITING_READS = 0
    placed = api_client.post("/orders", order_body, format="json").json()["data"]

    response = detail(api_client, placed["order_id"], min_version=1, wait=10_000)

    assert (response.status_code, response["Read-Model-Stale"]) == (404, "true")
    assert sleeps == []


def test_a_wait_slot_is_given_back_when_the_read_fails(db, monkeypatch, settings):
    settings.ORDERS_MAX_WAITING_READS = 1
    monkeypatch.setattr(selectors, "log_has_version", lambda order_id, version: True)

    def broken_sleep(seconds):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(selectors, "sleep", broken_sleep)
    with pytest.raises(RuntimeError):
        selectors.summary_at_version(
            "00000000-0000-0000-0000-000000000001", min_version=1, timeout=1.0
        )
    assert selectors.wait_slots.taken == 0
