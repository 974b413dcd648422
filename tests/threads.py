"""Helpers for tests that run work in other threads (each with its own database connection)."""

import threading
import time

from django.db import DEFAULT_DB_ALIAS, connections


def wait_until(condition, timeout=10.0):
    """Poll ``condition`` until it holds; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for the condition"
        time.sleep(0.01)


def backends_waiting_for_locks(alias: str = DEFAULT_DB_ALIAS) -> int:
    """How many connections to database ``alias`` wait for a lock now (PostgreSQL)."""
    with connections[alias].cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0]


class InThread(threading.Thread):
    """Runs ``target`` in its own thread (and so its own database connection)."""

    def __init__(self, target):
        super().__init__(daemon=True)
        self.target = target
        self.result = None
        self.error = None

    def run(self):
        try:
            self.result = self.target()
        except BaseException as exc:  # surfaced by outcome()
            self.error = exc
        finally:
            connections.close_all()

    def outcome(self, timeout=30):
        self.join(timeout)
        assert not self.is_alive(), "thread did not finish"
        if self.error:
            raise self.error
        return self.result
