"""Reads of the read model that need more than a queryset: waiting for a version."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from time import monotonic, sleep
from uuid import UUID

from django.conf import settings
from django.db.models import QuerySet

from orders_read.models import OrderSummary
from orders_write import event_log

# Polling backoff: the first retry soon (the inline projection runs right after
# COMMIT), then less often, so a long wait costs a query every 200 ms at most.
FIRST_POLL_DELAY = 0.005
MAX_POLL_DELAY = 0.2


def log_has_version(order_id: UUID, version: int) -> bool:
    """Whether the order's stream has reached ``version`` in the (committed) event log."""
    return event_log.stream(order_id).filter(version__gte=version).exists()


class WaitSlots:
    """How many reads of this process may be waiting for the read model at once.

    A waiting read holds a server thread; without a bound, a handful of clients asking
    for long waits would hold every thread and starve all other requests. A read that
    finds the slots full does not queue: it answers at once with what the read model
    has, marked stale, exactly as if its wait had run out.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.taken = 0

    @contextmanager
    def slot(self) -> Iterator[bool]:
        """Yields whether a slot was free (and holds it until the block ends)."""
        with self._lock:
            granted = self.taken < settings.ORDERS_MAX_WAITING_READS
            if granted:
                self.taken += 1
        try:
            yield granted
        finally:
            if granted:
                with self._lock:
                    self.taken -= 1


wait_slots = WaitSlots()


@dataclass(frozen=True)
class VersionedRead:
    row: OrderSummary | None
    # True when the read model reflects at least the version asked for (the row may
    # still be None: it exists, but the caller's filters exclude it).
    current: bool


def summary_at_version(
    order_id: UUID,
    *,
    min_version: int,
    timeout: float,
    queryset: QuerySet[OrderSummary] | None = None,
    replica: str | None = None,
) -> VersionedRead:
    """The order's summary once it reflects ``min_version``, waiting up to ``timeout`` s.

    ``queryset`` (the caller's filters) decides whether the row is shown; the wait
    itself watches the unfiltered row, so it ends as soon as the answer cannot change:
    once the row reflects the version, a filter that excludes it will exclude it for
    good. Costs one query when the row is already current and nothing is filtered
    (with the inline projection it usually is current, since a command answers after
    its COMMIT). A version the event log does not hold returns at once, and so does a
    read that finds every wait slot of the process taken (``ORDERS_MAX_WAITING_READS``).
    Otherwise the row is polled with backoff until it catches up or time runs out;
    then the answer is what the read model has (possibly nothing), ``current=False``.
    With a ``replica`` (an alias), its row is read first, and the read primary's only
    when the replica's is older than ``min_version``.
    """
    read = _on_replica(replica, order_id, min_version)
    if read is None:
        read = _wait_for_version(order_id, min_version, timeout)
    if queryset is not None and queryset.query.has_filters() and read.row is not None:
        # Filtered where the row was found: a replica's row, or the primary's.
        filtered = queryset.using(read.row._state.db).filter(pk=order_id).first()
        return VersionedRead(filtered, read.current)
    return read


def _on_replica(replica: str | None, order_id: UUID, min_version: int) -> VersionedRead | None:
    """The replica's row if it already reflects ``min_version``, else None."""
    if replica is None:
        return None
    row = OrderSummary.objects.using(replica).filter(pk=order_id).first()
    if row is not None and row.version >= min_version:
        return VersionedRead(row, current=True)
    return None


def _wait_for_version(order_id: UUID, min_version: int, timeout: float) -> VersionedRead:
    rows = OrderSummary.objects.filter(pk=order_id)
    deadline = monotonic() + timeout
    row = rows.first()
    if row is not None and row.version >= min_version:
        return VersionedRead(row, current=True)
    if timeout <= 0 or not log_has_version(order_id, min_version):
        # No such version was ever committed (a command answers only after its
        # COMMIT): waiting cannot bring it, and must not hold a thread for nothing.
        return VersionedRead(row, current=False)
    with wait_slots.slot() as granted:
        delay = FIRST_POLL_DELAY
        while granted:
            remaining = deadline - monotonic()
            if remaining <= 0:
                break
            sleep(min(delay, remaining))
            delay = min(delay * 2, MAX_POLL_DELAY)
            # .all(): a fresh query each turn, never the queryset's cached result.
            row = rows.all().first()
            if row is not None and row.version >= min_version:
                return VersionedRead(row, current=True)
    return VersionedRead(row, current=False)
