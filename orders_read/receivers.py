"""Signal receivers: committed events into the read model (connected in ``AppConfig.ready``)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from django.conf import settings

from orders_read.projections import PROJECTIONS
from orders_write.models import Event

logger = logging.getLogger(__name__)


def project_committed_events(sender: Any, events: Sequence[Event], **kwargs: Any) -> None:
    """Project events right after their command commits (the inline path).

    A failure is logged and left for catch-up from the event log: the command has
    committed and must not turn into an error.
    """
    if not settings.ORDERS_INLINE_PROJECTION:
        return
    for projection in PROJECTIONS.values():
        try:
            projection.apply(events)
        except Exception:
            logger.exception(
                "Projection %s failed on events %s; catch-up will retry them",
                projection.name,
                [event.position for event in events],
            )
