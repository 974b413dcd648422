"""What a projection already reflects: the lag that tells the truth, and a checkpoint kept near it.

Catch-up's checkpoint says how far catch-up has read, not how fresh the rows are: with
the inline path on, every row can be current while the checkpoint sits where the last
catch-up pass left it (or at the start, with no follower). Counting the events after
the checkpoint would then report a lag that only grows. So lag counts the committed
events after the checkpoint that the projection does not reflect yet, asking the
projection (``Projection.unapplied``: its rows' stream versions, or its ledger).

Two things keep that honest and cheap:

- The inline path, after applying, moves the checkpoint over the events that follow it
  and are already reflected (``advance_over_reflected``). It stops at the first event
  not reflected (the inline path missed it: catch-up's job) and never reads past the
  safe horizon, so it obeys the no-gap rule exactly as catch-up does: an event that can
  still commit with a lower position is never stepped over. Runners take turns on the
  checkpoint row without waiting (SKIP LOCKED): a writer that finds it taken leaves the
  move to the one holding it, or to the next. The checkpoint thus stays near the head
  and the status reads a short window.
- The status reads at most ``LAG_COUNT_LIMIT`` events after the checkpoint, so
  ``/health`` answers in bounded time however far behind catch-up is.

A long-open writer transaction is lag, never loss: its events are not committed, so
not counted; once it commits (with a lower position than events already reflected),
its events are counted until catch-up applies them, and the checkpoint never moved
past them meanwhile.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from django.db import router, transaction

from orders_read.engine.projection import AnyEvent, Projection
from orders_read.models import ProjectionCheckpoint
from orders_write import event_log
from orders_write.event_log import EventRecord, LogPosition

logger = logging.getLogger(__name__)

# The most events one inline advance reads; a longer run of reflected events after the
# checkpoint is crossed over several commands (or by catch-up).
ADVANCE_LIMIT = 500
# The status asks the projection about this many events at a time.
CHUNK = 1000


def not_reflected(projection: Projection, events: Sequence[AnyEvent]) -> list[AnyEvent]:
    """The events (log order) that ``projection``'s tables do not reflect yet.

    Events of types the projection does not handle are reflected by definition: there
    is nothing to apply.
    """
    missing: list[AnyEvent] = []
    for start in range(0, len(events), CHUNK):
        handled = projection.handled(events[start : start + CHUNK])
        if handled:
            missing.extend(projection.unapplied(handled))
    return missing


def advance_over_reflected(projection: Projection) -> LogPosition | None:
    """Move the checkpoint over the safe events after it that ``projection`` reflects.

    Returns the new checkpoint, or None when it did not move (another runner holds the
    checkpoint, or the next safe event is not reflected).
    """
    with transaction.atomic(using=router.db_for_write(ProjectionCheckpoint)):
        checkpoint = (
            ProjectionCheckpoint.objects.select_for_update(skip_locked=True)
            .filter(name=projection.name)
            .first()
        )
        if checkpoint is None:
            # Never created (the first command), or held by another runner right now.
            checkpoint, created = ProjectionCheckpoint.objects.get_or_create(name=projection.name)
            if not created:
                return None
        position = LogPosition(checkpoint.transaction_id, checkpoint.position)
        # Headers only: what a projection reflects is told by ids and versions, so
        # decoding the payloads is work this move (on a command's path) does not need.
        window = event_log.headers(event_log.after(position)[:ADVANCE_LIMIT])
        last = _last_before_gap(window, not_reflected(projection, window))
        if last is None:
            return None
        checkpoint.transaction_id, checkpoint.position = event_log.position_of(last)
        checkpoint.save(update_fields=["transaction_id", "position", "updated_at"])
        return event_log.position_of(last)


def _last_before_gap(window: list[EventRecord], missing: Sequence[AnyEvent]) -> EventRecord | None:
    """The last event of ``window`` before the first one in ``missing``."""
    first_missing = missing[0].event_id if missing else None
    last = None
    for event in window:
        if event.event_id == first_missing:
            break
        last = event
    return last
