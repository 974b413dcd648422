"""rebuild_projections beside live writers and beside another rebuild.

Real threads and transactions; each step waits for a state it can see (a thread
paused at a hook, a backend waiting for a lock), never for time to pass.
"""

import io
import os
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction

from orders_read.engine import rebuild as rebuild_module
from orders_read.engine.catchup import catch_up, get_checkpoint, read_database
from orders_read.engine.rebuild import can_fold_in_sql, rebuild
from orders_read.engine.rebuild_lock import ADVISORY_LOCK_CLASS
from orders_read.models import OrderSummary, ProjectionCheckpoint
from orders_read.order_summary.projection import order_summary
from orders_read.verify import find_drift
from orders_write import event_log
from orders_write.bus import dispatch
from orders_write.commands import ApproveOrder, CancelOrder
from orders_write.models import Event, OrderStatus
from tests.conftest import databases_for_subprocess, postgres_only
from tests.read_model import summary_rows, varied_history
from tests.threads import InThread, wait_until

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]
COPY_TABLE = OrderSummary._meta.db_table + rebuild_module.SHADOW_SUFFIX


def drift() -> list[str]:
    return [found.describe() for found in find_drift()]


class OpenTransaction:
    """A command committed by another connection only when released: until then its
    transaction is open, and the horizon cannot pass it."""

    def __init__(self, command, actor):
        self.begun, self.released = threading.Event(), threading.Event()
        self.thread = InThread(lambda: self._run(command, actor))
        self.thread.start()
        assert self.begun.wait(10)

    def _run(self, command, actor):
        with transaction.atomic():
            result = dispatch(command, actor=actor)
            self.begun.set()
            assert self.released.wait(30)
        return result  # committed; the inline path has run

    def commit(self):
        self.released.set()
        return self.thread.outcome()


@postgres_only("an open transaction holds the horizon back (SQLite serializes writers)")
def test_what_the_inline_path_wrote_during_a_rebuild_is_in_the_new_table(place, actor, monkeypatch):
    orders = varied_history(place, actor, count=5)
    held_back, cancelled_meanwhile = orders[0], orders[4]  # both pending
    writer = OpenTransaction(ApproveOrder(order_id=held_back.id), actor)
    late = {}
    # The fold that runs: set-based where the log is in the read database.
    fold = "_fold_in_sql" if can_fold_in_sql(read_database()) else "_fold_into"
    real_fold = getattr(rebuild_module, fold)

    def fold_then_commit_more(*args, **kwargs):
        folded = real_fold(*args, **kwargs)
        # The inline projection writes these to the old table; their transactions
        # began after the open one, so they are beyond the horizon.
        late["order"] = place(1)
        dispatch(CancelOrder(order_id=cancelled_meanwhile.id, reason="changed"), actor=actor)
        return folded

    monkeypatch.setattr(rebuild_module, fold, fold_then_commit_more)
    try:
        result = rebuild(order_summary)
    finally:
        approved = writer.commit()

    # Before any catch-up, the open transaction aside (its own inline write landed
    # in the new table when it committed), nothing committed is missing.
    assert approved.success
    assert drift() == []
    assert OrderSummary.objects.get(pk=late["order"].id).status == OrderStatus.PENDING
    assert OrderSummary.objects.get(pk=cancelled_meanwhile.id).status == OrderStatus.CANCELLED
    assert OrderSummary.objects.get(pk=held_back.id).status == OrderStatus.APPROVED
    # The checkpoint did not step over the open transaction's event.
    approval = Event.objects.get(stream_id=held_back.id, version=2)
    assert result.checkpoint < event_log.position_of(approval)

    rows = summary_rows()
    # The writer's inline path has since moved the checkpoint over what it reflects:
    # put it back where the rebuild left it, to read those events again.
    ProjectionCheckpoint.objects.filter(name="order_summary").update(
        transaction_id=result.checkpoint.transaction_id, position=result.checkpoint.position
    )
    caught_up = catch_up(order_summary)

    # It read the events after the checkpoint again, and they changed nothing.
    assert caught_up.events > 0
    assert caught_up.rows_written == 0
    assert summary_rows() == rows
    assert drift() == []
    assert get_checkpoint("order_summary") == event_log.position_of(
        Event.objects.order_by("transaction_id", "position").last()
    )


@postgres_only("an open transaction holds the horizon back (SQLite serializes writers)")
def test_events_behind_an_open_transaction_are_applied_before_the_swap_locks(
    place, actor, monkeypatch
):
    """While the tables are locked (dashboard reads wait), only what committed since
    the rebuild last looked is applied, not the whole backlog behind an open writer."""
    orders = varied_history(place, actor, count=3)
    writer = OpenTransaction(ApproveOrder(order_id=orders[0].id), actor)
    fold = "_fold_in_sql" if can_fold_in_sql(read_database()) else "_fold_into"
    real_fold = getattr(rebuild_module, fold)

    def fold_then_commit_behind_the_open_writer(*args, **kwargs):
        folded = real_fold(*args, **kwargs)
        for _ in range(5):
            place(1)
        return folded

    locked, applied_under_lock = [], []
    real_hold_off, real_apply_batch = (
        rebuild_module._hold_off_inline_writes,
        rebuild_module.apply_batch,
    )

    def hold_off(*args):
        real_hold_off(*args)
        locked.append(True)

    def apply_batch(projection, events, *args):
        if locked:
            applied_under_lock.extend(events)
        return real_apply_batch(projection, events, *args)

    monkeypatch.setattr(rebuild_module, fold, fold_then_commit_behind_the_open_writer)
    monkeypatch.setattr(rebuild_module, "_hold_off_inline_writes", hold_off)
    monkeypatch.setattr(rebuild_module, "apply_batch", apply_batch)
    try:
        rebuild(order_summary)
    finally:
        writer.commit()

    assert locked
    assert applied_under_lock == []
    assert drift() == []


def waiting_for(table: str) -> int:
    """Backends waiting for a lock on ``table`` (a read model table)."""
    with read_database().cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = %s::regclass", [table]
        )
        return cursor.fetchone()[0]


@postgres_only("table locks between concurrent connections")
def test_inline_writes_held_off_by_the_swap_land_in_the_new_table(place, actor, monkeypatch):
    orders = varied_history(place, actor, count=5)
    to_cancel = orders[4]  # pending
    # Drift the rebuild repairs: an inline write must not read it from the old table.
    OrderSummary.objects.filter(pk=to_cancel.id).update(customer_name="stale")
    real_swap = rebuild_module._swap
    writers = []
    held_off = []

    def swap_while_commands_commit(*args, **kwargs):
        # Two commands commit while the swap's transaction is open: one inline write
        # inserts a row, the other reads the order's row, then updates it.
        writers.append(InThread(lambda: place(1)))
        writers.append(
            InThread(lambda: dispatch(CancelOrder(order_id=to_cancel.id, reason="x"), actor=actor))
        )
        for writer in writers:
            writer.start()
        table = OrderSummary._meta.db_table
        wait_until(
            lambda: waiting_for(table) + sum(not writer.is_alive() for writer in writers) == 2
        )
        held_off.append(waiting_for(table))
        return real_swap(*args, **kwargs)

    monkeypatch.setattr(rebuild_module, "_swap", swap_while_commands_commit)
    rebuild(order_summary)
    placed, cancelled = (writer.outcome() for writer in writers)

    assert held_off == [2]
    assert cancelled.success
    assert OrderSummary.objects.get(pk=placed.id).status == OrderStatus.PENDING
    assert OrderSummary.objects.get(pk=to_cancel.id).status == OrderStatus.CANCELLED
    assert drift() == []


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite only: its write lock")
def test_on_sqlite_the_swap_holds_every_writer_off(place, actor, monkeypatch):
    """Guards a setting the swap relies on: BEGIN IMMEDIATE takes the write lock."""
    varied_history(place, actor, count=2)
    real_swap = rebuild_module._swap
    refused = []

    def swap_after_trying_to_write(*args, **kwargs):
        other = sqlite3.connect(connection.settings_dict["NAME"], timeout=0)
        try:
            other.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as error:
            refused.append(str(error))
        finally:
            other.close()
        return real_swap(*args, **kwargs)

    monkeypatch.setattr(rebuild_module, "_swap", swap_after_trying_to_write)
    rebuild(order_summary)

    assert refused == ["database is locked"]


def test_a_second_rebuild_of_a_projection_is_refused_while_one_runs(place, actor):
    varied_history(place, actor, count=4)
    expected = summary_rows()
    folded, finish = threading.Event(), threading.Event()

    def pause_once_folded(done, total):
        folded.set()
        assert finish.wait(30)

    first = InThread(lambda: rebuild(order_summary, progress=pause_once_folded))
    first.start()
    try:
        assert folded.wait(10)
        with pytest.raises(CommandError, match="A rebuild of order_summary is already running"):
            call_command("rebuild_projections", stdout=io.StringIO())
        # The refused rebuild left the running one's copy alone.
        assert COPY_TABLE in read_database().introspection.table_names()
    finally:
        finish.set()
        result = first.outcome()

    assert result.rows == 4
    assert summary_rows() == expected
    out = io.StringIO()
    call_command("rebuild_projections", stdout=out)
    assert "rebuilt 4 rows" in out.getvalue()


HOLD_THE_LOCK = """
import sys

import django

django.setup()
from orders_read.engine.catchup import read_database
from orders_read.engine.rebuild_lock import rebuild_lock

with rebuild_lock(read_database(), "order_summary"):
    print("locked", flush=True)
    sys.stdin.read()
"""


def rebuild_locks_held() -> int:
    with read_database().cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = %s",
            [ADVISORY_LOCK_CLASS],
        )
        return cursor.fetchone()[0]


def test_the_lock_of_a_killed_rebuild_dies_with_it(place, actor):
    varied_history(place, actor, count=2)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        **databases_for_subprocess(),
    }
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_THE_LOCK],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline() == "locked\n"
        with pytest.raises(CommandError, match="A rebuild of order_summary is already running"):
            call_command("rebuild_projections", stdout=io.StringIO())
    finally:
        holder.kill()  # SIGKILL: no cleanup of its own runs
        holder.communicate(timeout=30)

    if connection.vendor == "postgresql":
        # The server ends the session once it sees the client's socket close.
        wait_until(lambda: rebuild_locks_held() == 0)
    out = io.StringIO()
    call_command("rebuild_projections", stdout=out)
    assert "rebuilt 2 rows" in out.getvalue()
