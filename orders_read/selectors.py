"""Reads of the read model that need more than a queryset: waiting for a version."""

from __future__ import annotations

from dataclasses import dataclass
from time import monotonic, sleep
from uuid import UUID

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


@dataclass(frozen=True)
class VersionedRead:
    row: OrderSummary | None
    # True when the row reflects at least the version asked for.
    current: bool


def summary_at_version(
    order_id: UUID,
    *,
    min_version: int,
    timeout: float,
    queryset: QuerySet[OrderSummary] | None = None,
) -> VersionedRead:
    """The order's summary once it reflects ``min_version``, waiting up to ``timeout`` s.

    Costs one query when the row is already current (with the inline projection it
    usually is, since a command's response is sent after its COMMIT). Otherwise, if
    the event log holds that version, polls with backoff until the row catches up
    or time runs out, and returns what it has then (possibly nothing) with
    ``current=False``; a version the log does not hold returns at once.
    """
    rows = (OrderSummary.objects.all() if queryset is None else queryset).filter(pk=order_id)
    deadline = monotonic() + timeout
    delay = FIRST_POLL_DELAY
    first_turn = True
    while True:
        # .all(): a fresh query each turn, never the queryset's cached result.
        row = rows.all().first()
        if row is not None and row.version >= min_version:
            return VersionedRead(row, current=True)
        if first_turn and not log_has_version(order_id, min_version):
            # No such version was ever committed (a command answers only after its
            # COMMIT): waiting cannot bring it, and must not hold a worker for nothing.
            return VersionedRead(row, current=False)
        first_turn = False
        remaining = deadline - monotonic()
        if remaining <= 0:
            return VersionedRead(row, current=False)
        sleep(min(delay, remaining))
        delay = min(delay * 2, MAX_POLL_DELAY)
