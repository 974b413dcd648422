"""The inline path: committed events into every projection, right after their COMMIT.

Connected to ``orders_write.signals.events_committed`` in ``AppConfig.ready``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from typing import Any

from django.conf import settings
from django.db import router, transaction

from common import tracing
from orders_read.engine import registry
from orders_read.engine.projection import AnyEvent, Projection
from orders_read.engine.reflected import advance_over_reflected

logger = logging.getLogger(__name__)


# How often, at most, the inline path of one process moves a projection's checkpoint.
# The lag is exact without any move (the status asks the projection what it reflects);
# moving only keeps the window the status reads short, and costs a transaction of a few
# queries: once a second bounds the window to a second of writes per process, where
# once per command would add that transaction to every command.
ADVANCE_EVERY_SECONDS = 1.0
_last_advance: dict[str, float] = {}


def _time_to_advance(projection: Projection) -> bool:
    now = time.monotonic()
    if now - _last_advance.get(projection.name, -ADVANCE_EVERY_SECONDS) < ADVANCE_EVERY_SECONDS:
        return False
    _last_advance[projection.name] = now  # threads racing here both advance: harmless
    return True


def project_committed_events(sender: Any, events: Sequence[AnyEvent], **kwargs: Any) -> None:
    """Project events right after their command commits (the inline path).

    Then, at most once a second, the projection's checkpoint moves over the events it
    now reflects, so the window the status reads stays short (``reflected``). A
    failure is logged and left for catch-up from the event log: the command has
    committed and must not turn into an error.
    """
    if not settings.ORDERS_INLINE_PROJECTION:
        return
    for projection in registry.projections():
        try:
            with tracing.span(
                f"project {projection.name}", links=(event.metadata for event in events)
            ):
                _apply(projection, events)
        except Exception:
            logger.exception(
                "Projection %s failed on events %s; catch-up will retry them",
                projection.name,
                [event.position for event in events],
            )
            continue
        if not _time_to_advance(projection):
            continue
        try:
            advance_over_reflected(projection)
        except Exception:
            logger.exception("Projection %s: could not move its checkpoint", projection.name)


def apply_events(events: Iterable[AnyEvent]) -> int:
    """Apply events to every projection, failures raised; returns rows written."""
    events = list(events)
    return sum(_apply(projection, events) for projection in registry.projections())


def _apply(projection: Projection, events: Iterable[AnyEvent]) -> int:
    handled = projection.handled(events)
    if not handled:
        return 0
    if not projection.atomic_inline:
        return projection.apply(handled)
    with transaction.atomic(using=router.db_for_write(projection.models[0])):
        return projection.apply(handled)
