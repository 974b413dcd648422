"""The follower, catch-up under real concurrency, and losing the database (PostgreSQL)."""

import io
import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import psycopg
import pytest
from django.core.management import call_command
from django.db import connection, connections

from orders_read.engine import registry, upsert
from orders_read.engine.catchup import catch_up, get_checkpoint, read_database, record_dead_letter
from orders_read.engine.follower import Follower
from orders_read.engine.status import projection_status
from orders_read.models import DeadLetter, OrderSummary
from orders_read.order_summary.projection import order_summary
from orders_write.bus import dispatch
from orders_write.commands import ApproveOrder, OrderLine, PlaceOrder
from orders_write.models import Event
from tests.conftest import databases_for_subprocess, postgres_only

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]


def start_follower(*, names=("order_summary",), poll_interval=0.05, **kwargs):
    """Run a Follower of ``names`` in a thread; returns (follower, thread)."""
    follower = Follower(list(names), poll_interval=poll_interval, reconnect_delay=0.05, **kwargs)

    def run():
        try:
            follower.run()
        finally:
            connections.close_all()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return follower, thread


def stop(follower, thread):
    follower.stop.set()
    thread.join(timeout=30)
    assert not thread.is_alive()


def when_caught_up(flag, events=1, names=("order_summary",)):
    """An on_pass callback that sets ``flag`` once ``events`` are in and none is lagging."""

    def on_pass(results):
        # Counted first: an event committed between the two reads must not pass for caught up.
        if Event.objects.count() >= events and not any(
            projection_status(name).lag_events for name in names
        ):
            flag.set()

    return on_pass


def test_follower_applies_events_as_they_commit(place, settings):
    settings.ORDERS_INLINE_PROJECTION = False
    caught_up = threading.Event()
    # Caught up with all three orders, not with the first one alone.
    follower, thread = start_follower(on_pass=when_caught_up(caught_up, events=3))
    try:
        orders = [place() for _ in range(3)]
        assert caught_up.wait(timeout=30)
    finally:
        stop(follower, thread)
    assert set(OrderSummary.objects.values_list("order_id", flat=True)) == {o.id for o in orders}


def pg_connect(alias="default"):
    params = connections[alias].settings_dict
    return psycopg.connect(
        dbname=params["NAME"],
        user=params["USER"],
        password=params["PASSWORD"],
        host=params["HOST"],
        port=params["PORT"],
    )


def append_placed(conn, customer_id=1):
    """Append an OrderPlaced event on a raw connection (its transaction stays open)."""
    order_id = uuid.uuid4()
    data = {
        "order_id": str(order_id),
        "customer_id": customer_id,
        "customer_name": "Raw Writer",
        "customer_email": "raw@example.com",
        "payment_method_id": 1,
        "items": [{"product_id": 1, "quantity": 1, "unit_price_cents": 500}],
        "total_cents": 500,
        "placed_at": "2026-01-01T00:00:00+00:00",
    }
    position = conn.execute(
        "INSERT INTO orders_write_event (event_id, stream_id, version, type, data, metadata, "
        "occurred_at) VALUES (%s, %s, 1, 'OrderPlaced', %s, '{}', now()) RETURNING position",
        (uuid.uuid4(), order_id, json.dumps(data)),
    ).fetchone()[0]
    return order_id, position


@postgres_only("positions commit out of order only with concurrent writers")
def test_an_event_that_commits_late_with_a_lower_position_is_not_skipped():
    first, second = pg_connect(), pg_connect()
    try:
        early_order, early_position = append_placed(first)  # T1 takes the lower position
        late_order, late_position = append_placed(second)  # T2 takes the higher one...
        second.commit()  # ...and commits first
        assert early_position < late_position
        # A reader going by position alone would now see only T2's event and move past
        # T1's position: the hole catch-up must not fall into.
        assert list(Event.objects.values_list("position", flat=True)) == [late_position]

        held_back = catch_up(order_summary)
        assert held_back.events == 0  # T1 is still running: T2's event waits, as lag
        assert projection_status("order_summary").lag_events == 1

        first.commit()
        result = catch_up(order_summary)
    finally:
        first.close()
        second.close()

    assert result.events == 2
    assert set(OrderSummary.objects.values_list("order_id", flat=True)) == {
        early_order,
        late_order,
    }
    assert get_checkpoint("order_summary").position == late_position


@postgres_only("a writer transaction held open beside others")
def test_a_long_open_transaction_is_lag_not_loss(place, settings):
    settings.ORDERS_INLINE_PROJECTION = False
    blocker = pg_connect()
    try:
        blocker.execute("SELECT pg_current_xact_id()")  # an open writer transaction
        order = place()
        assert catch_up(order_summary).events == 0
        status = projection_status("order_summary")
        assert status.lag_events == 1
        assert status.lag_seconds >= 0
        blocker.rollback()
    finally:
        blocker.close()
    assert catch_up(order_summary).events == 1
    assert OrderSummary.objects.filter(pk=order.id).exists()


@postgres_only("followers take turns through advisory locks")
def test_a_second_follower_waits_as_a_hot_standby(place, settings):
    settings.ORDERS_INLINE_PROJECTION = False
    first_passes = threading.Event()
    standing_by = threading.Event()
    second_caught_up = threading.Event()
    first, first_thread = start_follower(on_pass=lambda results: first_passes.set())
    assert first_passes.wait(timeout=30)
    second, second_thread = start_follower(
        on_standby=standing_by.set, on_pass=when_caught_up(second_caught_up)
    )
    try:
        assert standing_by.wait(timeout=30)
        stop(first, first_thread)
        order = place()  # only the standby, now active, can apply it
        assert second_caught_up.wait(timeout=30)
    finally:
        first.stop.set()
        stop(second, second_thread)
    assert OrderSummary.objects.filter(pk=order.id).exists()


def test_concurrent_placing_with_a_follower_ends_with_zero_drift(
    payment_method, products, actor, settings
):
    """Four writers and a follower at once; on SQLite also: no "database is locked"."""
    settings.ORDERS_INLINE_PROJECTION = False
    caught_up = threading.Event()
    # Every projection: verify_projections checks them all.
    names = registry.names()
    follower, thread = start_follower(names=names, on_pass=when_caught_up(caught_up, names=names))

    failures = []

    def writer(seed):
        try:
            for n in range(8):
                result = dispatch(
                    PlaceOrder(
                        customer_id=payment_method.customer_id,
                        payment_method_id=payment_method.pk,
                        items=(OrderLine(product_id=products[n % 2].pk, quantity=seed + 1),),
                    ),
                    actor=actor,
                )
                if not result.success:
                    failures.append(result)
                elif n % 2:
                    dispatch(ApproveOrder(order_id=result.data["order_id"]), actor=actor)
        except Exception as error:  # e.g. "database is locked": the test must see it
            failures.append(error)
        finally:
            connections.close_all()

    writers = [threading.Thread(target=writer, args=(seed,)) for seed in range(4)]
    try:
        for writer_thread in writers:
            writer_thread.start()
        for writer_thread in writers:
            writer_thread.join(timeout=60)
        caught_up.clear()  # a pass that starts now sees every writer's events
        assert caught_up.wait(timeout=30)
    finally:
        stop(follower, thread)

    assert failures == []
    assert OrderSummary.objects.count() == 32
    out = io.StringIO()
    call_command("verify_projections", stdout=out)
    assert "No drift" in out.getvalue()


def test_follow_command_stops_cleanly_on_sigterm(place, settings):
    """The real command in its own process: woken by new events, stopped by SIGTERM."""
    settings.ORDERS_INLINE_PROJECTION = False
    # On PostgreSQL, with a 30 s poll interval, only the NOTIFY can wake it in time.
    poll_interval = "30" if connection.vendor == "postgresql" else "0.1"
    env = {**os.environ, **databases_for_subprocess(), "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "catch_up_projections",
            "--follow",
            "--poll-interval",
            poll_interval,
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert "Following the event log" in process.stdout.readline()
        order = place()
        # One line per projection, in name order.
        passes = [process.stdout.readline() for _ in registry.names()]
        assert any("order_summary: 1 events read" in line for line in passes), passes
        process.send_signal(signal.SIGTERM)
        remaining, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, remaining
    assert "SIGTERM received, stopping" in remaining
    assert "Stopped cleanly" in remaining
    assert OrderSummary.objects.filter(pk=order.id).exists()


def test_the_follower_survives_losing_the_database(place, settings, monkeypatch):
    """A restart or failover is a pause, not the end of catch-up."""
    from django.db import OperationalError

    from orders_read.engine import follower as follower_module

    settings.ORDERS_INLINE_PROJECTION = False
    real_catch_up_all = follower_module.catch_up_all
    failures = []

    def flaky_catch_up_all(*args, **kwargs):
        if not failures:
            failures.append("server closed the connection unexpectedly")
            raise OperationalError(failures[0])
        return real_catch_up_all(*args, **kwargs)

    monkeypatch.setattr(follower_module, "catch_up_all", flaky_catch_up_all)
    order = place()
    caught_up = threading.Event()
    follower, thread = start_follower(on_pass=when_caught_up(caught_up))
    try:
        assert caught_up.wait(timeout=30)
    finally:
        stop(follower, thread)
    assert failures  # it did fail once, and went on
    assert OrderSummary.objects.filter(pk=order.id).exists()


class Passes:
    """An on_pass callback that records each pass (and its session) for a test to wait on."""

    def __init__(self):
        self.results = []
        self.sessions = []  # the backend pid each pass ran on
        self.changed = threading.Condition()

    def __call__(self, results):
        with self.changed:
            self.results.append(results)
            self.sessions.append(connection.connection.info.backend_pid)
            self.changed.notify_all()

    def wait_for(self, condition, thread, timeout=15):
        """Wait until ``condition()`` holds; False once the follower dies or time is up."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while not condition():
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not thread.is_alive():
                    return False
                # Woken by each pass; the slice only notices a follower that died.
                self.changed.wait(min(remaining, 0.1))
        return True


def terminate(pid, alias="default"):
    """End a backend from another session, and wait until it is gone."""
    with pg_connect(alias) as admin:
        assert admin.execute("SELECT pg_terminate_backend(%s, 10000)", [pid]).fetchone()[0]


def terminate_read_session():
    """End the session this thread writes the read model on (the write session if shared)."""
    database = read_database()
    terminate(database.connection.info.backend_pid, database.alias)


def holds_advisory_lock(pid):
    with pg_connect() as admin:
        return admin.execute(
            "SELECT EXISTS (SELECT FROM pg_locks "
            "WHERE locktype = 'advisory' AND granted AND pid = %s)",
            [pid],
        ).fetchone()[0]


def follow_until_a_pass_ends():
    """Run the follower until one pass has ended (fails if it died first); its passes."""
    passes = Passes()
    follower, thread = start_follower(on_pass=passes)
    try:
        assert passes.wait_for(lambda: passes.results, thread), "the follower died"
    finally:
        stop(follower, thread)
    return passes


def follower_recovers_from_losing_its_idle_session(place, lose_session):
    """An idle follower loses its session to ``lose_session(pid)``, reconnects on a new
    session that holds the lock, and projects an order placed afterwards."""
    passes = Passes()
    # Polling every 30 s: within the deadline only a NOTIFY can wake the follower, so
    # projecting the order shows the new session LISTENs again.
    follower, thread = start_follower(on_pass=passes, poll_interval=30)
    try:
        assert passes.wait_for(lambda: passes.sessions, thread)  # now idle, on NOTIFY
        lose_session(passes.sessions[0])
        assert passes.wait_for(lambda: len(passes.sessions) >= 2, thread), "the follower died"
        order = place()
        assert passes.wait_for(lambda: OrderSummary.objects.filter(pk=order.id).exists(), thread), (
            "the order was not projected"
        )
        assert passes.sessions[1] != passes.sessions[0]
        assert holds_advisory_lock(passes.sessions[1])
    finally:
        stop(follower, thread)


def follow_losing_the_first_batch(place, monkeypatch, lose_session):
    """Three orders; the follower runs until a pass ends, and ``lose_session()`` is called
    while its first batch's transaction is open. (orders, batch sizes applied, passes)"""
    orders = [place() for _ in range(3)]
    real_apply = order_summary.apply
    batches = []

    def apply(events, *tables):
        batches.append(len(events))
        if len(batches) == 1:
            lose_session()
        return real_apply(events, *tables)

    monkeypatch.setattr(order_summary, "apply", apply)
    return orders, batches, follow_until_a_pass_ends()


@postgres_only("LISTEN/NOTIFY and a backend terminated under the follower")
def test_the_follower_reconnects_when_its_idle_session_is_terminated(place, settings):
    settings.ORDERS_INLINE_PROJECTION = False
    follower_recovers_from_losing_its_idle_session(place, terminate)


@postgres_only("a backend terminated in the middle of a batch")
def test_a_batch_cut_off_by_a_lost_session_is_applied_again_after_reconnecting(
    place, settings, monkeypatch, caplog
):
    settings.ORDERS_INLINE_PROJECTION = False
    orders, batches, passes = follow_losing_the_first_batch(
        place, monkeypatch, terminate_read_session
    )

    assert batches == [3, 3]  # the whole batch, then the whole batch again
    assert passes.results[0][0].events == 3
    assert set(OrderSummary.objects.values_list("order_id", flat=True)) == {o.id for o in orders}
    assert not DeadLetter.objects.exists()
    assert get_checkpoint("order_summary").position == Event.objects.latest("position").position
    # Nothing was blamed on the events: the loss is logged as a loss.
    assert "cannot apply" not in caplog.text
    assert "one by one" not in caplog.text
    assert "Follower lost the database" in caplog.text


@postgres_only("a backend terminated while a dead letter is retried")
def test_a_dead_letter_retry_cut_off_by_a_lost_session_keeps_the_lock_and_listen(
    place, settings, monkeypatch
):
    settings.ORDERS_INLINE_PROJECTION = False
    order = place()
    event = Event.objects.get(stream_id=order.id)
    record_dead_letter("order_summary", event, ValueError("once failed"))
    real_apply = order_summary.apply
    retries = []

    def apply(events, *tables):
        if not retries:
            retries.append(events)
            terminate_read_session()
        return real_apply(events, *tables)

    monkeypatch.setattr(order_summary, "apply", apply)
    passes = Passes()
    follower, thread = start_follower(on_pass=passes, poll_interval=30)
    try:
        assert passes.wait_for(lambda: passes.sessions, thread), "the follower died"
        assert passes.results[0][0].recovered == 1  # retried on the new session
        # The session the follower went on with holds the lock and LISTENs.
        assert holds_advisory_lock(passes.sessions[-1])
        later = place()
        assert passes.wait_for(lambda: OrderSummary.objects.filter(pk=later.id).exists(), thread), (
            "no NOTIFY woke the follower"
        )
    finally:
        stop(follower, thread)
    assert not DeadLetter.objects.exists()


@postgres_only("the advisory lock and LISTEN of the follower's session")
def test_a_session_replaced_behind_the_followers_back_is_handled_as_lost(
    place, settings, monkeypatch
):
    """Django reconnects on its own after some failures: that session has no lock, no LISTEN."""
    from orders_read.engine import follower as follower_module

    settings.ORDERS_INLINE_PROJECTION = False
    real_catch_up_all = follower_module.catch_up_all
    replaced = []

    def catch_up_all(*args, **kwargs):
        if not replaced:
            replaced.append(connection.connection.info.backend_pid)
            connection.close()  # the pass's first query opens a new session
        return real_catch_up_all(*args, **kwargs)

    monkeypatch.setattr(follower_module, "catch_up_all", catch_up_all)
    passes = Passes()
    follower, thread = start_follower(on_pass=passes, poll_interval=30)
    try:
        # A second pass within the deadline: the follower did not wait on a session
        # that never LISTENed (only the 30 s poll would have woken it).
        assert passes.wait_for(lambda: len(passes.sessions) >= 2, thread)
        assert holds_advisory_lock(passes.sessions[-1])
        later = place()
        assert passes.wait_for(lambda: OrderSummary.objects.filter(pk=later.id).exists(), thread), (
            "no NOTIFY woke the follower"
        )
    finally:
        stop(follower, thread)


PG_RESTART = os.environ.get("ORDERS_TEST_PG_RESTART")


@pytest.mark.skipif(
    not PG_RESTART,
    reason="ORDERS_TEST_PG_RESTART (a command that restarts the test server) is not set; "
    ".ci/run sets it",
)
@postgres_only("a PostgreSQL server restart")
def test_the_follower_recovers_from_a_server_restart(place, settings):
    settings.ORDERS_INLINE_PROJECTION = False

    def restart_the_server(pid):
        subprocess.run(shlex.split(PG_RESTART), check=True)
        # The restart ended this thread's session too: closing it lets Django reconnect.
        connections.close_all()

    follower_recovers_from_losing_its_idle_session(place, restart_the_server)


@pytest.mark.skipif(
    not PG_RESTART,
    reason="ORDERS_TEST_PG_RESTART (a command that restarts the test server) is not set; "
    ".ci/run sets it",
)
@postgres_only("a PostgreSQL server restart in the middle of a batch")
def test_a_batch_cut_off_by_a_server_restart_is_applied_again(place, settings, monkeypatch, caplog):
    """Busy, not idle: the server restarts while a batch's transaction is open."""
    settings.ORDERS_INLINE_PROJECTION = False
    orders, batches, passes = follow_losing_the_first_batch(
        place, monkeypatch, lambda: subprocess.run(shlex.split(PG_RESTART), check=True)
    )
    connections.close_all()  # the restart ended this thread's session too

    # The restart came in the middle of the first batch (on one database the batch is
    # applied again; with a read database of its own, the batch's rows commit there and
    # the lost write session is found after it). Either way nothing is lost or blamed.
    assert batches[0] == 3
    assert passes.results
    assert set(OrderSummary.objects.values_list("order_id", flat=True)) == {o.id for o in orders}
    assert not DeadLetter.objects.exists()
    assert get_checkpoint("order_summary").position == Event.objects.latest("position").position
    assert "cannot apply" not in caplog.text
    assert "Follower lost the database" in caplog.text


@postgres_only("a backend terminated in the middle of a COPY")
def test_a_batch_written_by_copy_and_cut_off_by_a_lost_session_is_applied_again(
    place, settings, monkeypatch
):
    """Big batches (500+ rows) go through COPY, which psycopg runs outside Django's wrapper."""
    settings.ORDERS_INLINE_PROJECTION = False
    orders = [place() for _ in range(3)]
    monkeypatch.setattr(upsert, "COPY_THRESHOLD", 2)  # as a batch of 500 orders would
    real_copy_rows = upsert.copy_rows
    copies = []

    def copy_rows_losing_the_first_session(cursor, *args, **kwargs):
        copies.append(cursor.db.connection.info.backend_pid)
        if len(copies) == 1:
            terminate(copies[0], cursor.db.alias)
        return real_copy_rows(cursor, *args, **kwargs)

    monkeypatch.setattr(upsert, "copy_rows", copy_rows_losing_the_first_session)
    follow_until_a_pass_ends()
    assert len(copies) == 2 and copies[0] != copies[1]
    assert set(OrderSummary.objects.values_list("order_id", flat=True)) == {o.id for o in orders}
    assert not DeadLetter.objects.exists()
