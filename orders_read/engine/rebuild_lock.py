"""One rebuild of a projection at a time, under a lock that dies with its holder.

Two rebuilds of one projection at once would trample each other: each builds the
same copy table, and each drops a copy it finds at start as left over from an
interrupted run. So a rebuild first takes a lock per projection, and a second one
is refused at once (``RebuildInProgress``) instead of failing halfway with a
missing table. The lock goes away with the process or session that holds it,
however it ends (``kill -9`` included), so a crashed rebuild never blocks the next:

- PostgreSQL: a session advisory lock on the rebuild's own connection (a pooler
  in transaction mode, such as PgBouncer's, cannot keep session locks: connect
  rebuilds directly or in session mode).
- SQLite, a database file: ``flock`` on a lock file beside it, released by the
  operating system when the file is closed or the process exits. The empty file
  stays behind, harmless: removing it would let two processes lock two files.
- SQLite in memory: no other process can open the database, so a lock in this
  process is enough.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import threading
from collections.abc import Iterator

from django.db import DatabaseError
from django.db.backends.base.base import BaseDatabaseWrapper

logger = logging.getLogger(__name__)

# The first key of pg_*_advisory_lock(int, int): rebuilds (the follower uses 1).
ADVISORY_LOCK_CLASS = 2

_in_process: dict[tuple[str, str], threading.Lock] = {}
_in_process_guard = threading.Lock()


class RebuildInProgress(Exception):
    """Another rebuild of the same projection holds its lock."""

    def __init__(self, projection: str) -> None:
        super().__init__(
            f"A rebuild of {projection} is already running; the old rows keep serving "
            "until it swaps them. Wait for it to finish, then run this again if you "
            "still need to."
        )
        self.projection = projection


@contextlib.contextmanager
def rebuild_lock(connection: BaseDatabaseWrapper, projection: str) -> Iterator[None]:
    """Hold the rebuild lock of ``projection`` for the block; refuse if it is taken.

    Raises ``RebuildInProgress`` at once rather than waiting: the running rebuild
    already includes everything committed until it swaps.
    """
    if connection.vendor == "postgresql":
        lock = _advisory_lock(connection, projection)
    elif connection.is_in_memory_db():
        lock = _in_process_lock(connection.settings_dict["NAME"], projection)
    else:
        lock = _file_lock(connection.settings_dict["NAME"], projection)
    with lock:
        yield


@contextlib.contextmanager
def _advisory_lock(connection: BaseDatabaseWrapper, projection: str) -> Iterator[None]:
    # hashtext: the server turns the name into the int key, the same for every client.
    key = [ADVISORY_LOCK_CLASS, projection]
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, hashtext(%s))", key)
        if not cursor.fetchone()[0]:
            raise RebuildInProgress(projection)
    try:
        yield
    finally:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, hashtext(%s))", key)
        except DatabaseError:
            # The session is gone, and its lock with it.
            logger.warning("Could not release the rebuild lock of %s cleanly", projection)


@contextlib.contextmanager
def _file_lock(database: str, projection: str) -> Iterator[None]:
    # Append mode creates the file if needed and never truncates it.
    with open(f"{database}.{projection}.rebuild.lock", "a") as lock_file:
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RebuildInProgress(projection) from None
        yield  # closing the file releases the lock


@contextlib.contextmanager
def _in_process_lock(database: str, projection: str) -> Iterator[None]:
    with _in_process_guard:
        lock = _in_process.setdefault((database, projection), threading.Lock())
    if not lock.acquire(blocking=False):
        raise RebuildInProgress(projection)
    try:
        yield
    finally:
        lock.release()
