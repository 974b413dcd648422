"""The write side's publication: a signal sent only after the transaction commits."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING

from django.db import transaction
from django.dispatch import Signal

from orders_write.metrics import EVENTS_APPENDED

if TYPE_CHECKING:
    from orders_write.models import Event

logger = logging.getLogger(__name__)

# Sent with ``events``: a tuple of committed ``Event`` rows, in stream order.
events_committed = Signal()


def publish_after_commit(events: Sequence[Event]) -> None:
    """Send ``events_committed`` once the current transaction commits (never if it rolls back)."""
    transaction.on_commit(partial(_publish, tuple(events)), robust=True)


def _publish(events: tuple[Event, ...]) -> None:
    for event in events:
        EVENTS_APPENDED.labels(event.type).inc()
    # A failing receiver is a log line and a job for catch-up, never an error on a
    # command that has already committed.
    for receiver, response in events_committed.send_robust(sender=None, events=events):
        if isinstance(response, Exception):
            logger.error(
                "Receiver %r failed on events %s",
                receiver,
                [event.position for event in events],
                exc_info=response,
            )
