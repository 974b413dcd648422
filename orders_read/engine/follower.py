"""Keep projections caught up: woken by NOTIFY on PostgreSQL, polling on SQLite.

Only one follower per set of projections works at a time: on PostgreSQL each takes
a session advisory lock keyed on the set it follows, and a second follower of the
same set waits for it as a hot standby. Followers of overlapping sets (``--follow``
beside ``--follow --projection order_summary``) both run, and take turns batch by
batch on each checkpoint's row lock, so neither applies a batch twice. (On SQLite
writers are serialized and each batch re-reads the checkpoint under the write lock.)

The lock and the LISTEN belong to one session on the write database: the database
that NOTIFYs at each commit, whatever the topology (a hot standby refuses LISTEN, and
PgBouncer in transaction pooling mode breaks both LISTEN and session advisory locks:
connect the follower directly or through session pooling). Batches are written to
the read database, where the checkpoint's compare-and-set (``catchup``) stops a
batch from being applied twice even should two followers both believe they hold the
lock. When either session is lost (a restart, a failover, a terminated backend),
idle or mid-batch, the follower closes both, and a new session takes the lock and
LISTENs again before any batch.
"""

from __future__ import annotations

import logging
import threading
import time
import zlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from django.db import Error
from django.db.backends.base.base import BaseDatabaseWrapper

from orders_read.engine.catchup import (
    DEFAULT_BATCH_SIZE,
    PassResult,
    catch_up_all,
    read_database,
    session_lost,
)
from orders_write import event_log
from orders_write.event_log import NOTIFY_CHANNEL

if TYPE_CHECKING:
    import psycopg

logger = logging.getLogger(__name__)

# The longest a follower waits before noticing it was asked to stop.
STOP_CHECK_SECONDS = 0.25
# The longest pause between attempts to reach a database that went away.
MAX_RECONNECT_DELAY = 30.0


def _lock_key(names: Sequence[str]) -> int:
    # A stable signed 32-bit key per set of projections (pg_*_advisory_lock(int, int)).
    return zlib.crc32(",".join(sorted(names)).encode()) - 2**31


class Follower:
    def __init__(
        self,
        names: Sequence[str],
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        poll_interval: float = 1.0,
        reconnect_delay: float | None = None,
        stop: threading.Event | None = None,
        on_pass: Callable[[list[PassResult]], None] | None = None,
        on_standby: Callable[[], None] | None = None,
    ) -> None:
        self.names = list(names)
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        # The first pause after losing the database; it doubles up to MAX_RECONNECT_DELAY.
        self.reconnect_delay = poll_interval if reconnect_delay is None else reconnect_delay
        self.stop = stop or threading.Event()
        self.on_pass = on_pass
        self.on_standby = on_standby
        self.postgresql = self.connection.vendor == "postgresql"
        self.lock_key = _lock_key(self.names)
        # The psycopg connection that holds the lock and the LISTEN.
        self.session: psycopg.Connection | None = None

    @property
    def connection(self) -> BaseDatabaseWrapper:
        """The write database (this thread's connection): it NOTIFYs as events are appended."""
        return event_log.database()

    def run(self) -> None:
        """Follow until ``stop`` is set; returns after releasing the lock.

        A database error (a restart, a failover, a dropped connection) does not end
        the follower: it reconnects after a growing pause, takes the lock again and
        carries on from the checkpoint, which only ever moved with committed rows.
        Every database call, the raw wait on NOTIFY included, raises a Django
        database ``Error`` for it, so this one clause sees every loss. Any other
        exception is a bug and ends the follower.
        """
        delay = self.reconnect_delay
        while not self.stop.is_set():
            try:
                self._follow()
                return
            except Error:  # DatabaseError and InterfaceError alike
                logger.exception("Follower lost the database; reconnecting in %.1f s", delay)
                self.connection.close()
                read_database().close()
                self.stop.wait(delay)
                delay = min(delay * 2, MAX_RECONNECT_DELAY)

    def _follow(self) -> None:
        try:
            if not self._acquire():
                return
            self._listen()
            while not self.stop.is_set():
                results = catch_up_all(self.names, batch_size=self.batch_size)
                if self.on_pass:
                    self.on_pass(results)
                if not any(result.events for result in results):
                    self._wait()
        finally:
            self._release()

    def _acquire(self) -> bool:
        if not self.postgresql:
            return True
        announced = False
        while not self.stop.is_set():
            with self.connection.cursor() as cursor:
                cursor.execute("SELECT pg_try_advisory_lock(1, %s)", [self.lock_key])
                if cursor.fetchone()[0]:
                    self.session = self.connection.connection
                    return True
            if not announced:
                logger.info("Another follower holds %s; waiting as a hot standby", self.names)
                announced = True
                if self.on_standby:
                    self.on_standby()
            self.stop.wait(self.poll_interval)
        return False

    def _release(self) -> None:
        # A lost session took its lock and LISTEN with it: nothing to release there.
        if not self.postgresql or session_lost(self.session, self.connection):
            return
        try:
            with self.connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock_all()")
                cursor.execute(f"UNLISTEN {NOTIFY_CHANNEL}")
        except Error:
            # The session died just now, and its lock and LISTEN with it.
            logger.warning("Could not release the follower's lock cleanly", exc_info=True)

    def _listen(self) -> None:
        if self.postgresql:
            with self.connection.cursor() as cursor:
                cursor.execute(f"LISTEN {NOTIFY_CHANNEL}")

    def _wait(self) -> None:
        """Sleep until events are appended (PostgreSQL) or the poll interval passes."""
        if not self.postgresql:
            self.stop.wait(self.poll_interval)
            return
        # A notification arrives at the writer's COMMIT; the timeout also covers
        # events held back behind a transaction that commits without notifying.
        # Waiting in short slices lets a stop request (SIGTERM) end the wait at once.
        deadline = time.monotonic() + self.poll_interval
        # The wait goes through psycopg itself, so its errors become Django's here. It
        # waits on the session that LISTENs, not on whatever Django holds now: should
        # Django have replaced it (it reconnects on its own after some failures), the
        # closed session raises, and the follower reconnects and LISTENs again.
        with self.connection.wrap_database_errors:
            while not self.stop.is_set():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                slice_ = min(remaining, STOP_CHECK_SECONDS)
                for _ in self.session.notifies(timeout=slice_, stop_after=1):
                    return
