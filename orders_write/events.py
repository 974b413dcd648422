"""Event types (past tense) and appending them to the event log.

Events carry everything a projection needs, so the read side never queries the
write tables. Their ``data`` is plain JSON: identifiers and timestamps as strings.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar
from uuid import UUID

from orders_write.commands import Actor
from orders_write.models import Event
from orders_write.signals import publish_after_commit


@dataclass(frozen=True)
class OrderPlaced:
    type: ClassVar[str] = "OrderPlaced"
    order_id: str
    customer_id: int
    customer_name: str
    customer_email: str
    payment_method_id: int
    items: list[dict[str, int]]
    total_cents: int
    placed_at: str


@dataclass(frozen=True)
class OrderApproved:
    type: ClassVar[str] = "OrderApproved"
    order_id: str
    approved_by: str
    approved_at: str


@dataclass(frozen=True)
class OrderCancelled:
    type: ClassVar[str] = "OrderCancelled"
    order_id: str
    reason: str
    cancelled_by: str
    cancelled_at: str


DomainEvent = OrderPlaced | OrderApproved | OrderCancelled
EVENT_TYPES: dict[str, type[DomainEvent]] = {
    cls.type: cls for cls in (OrderPlaced, OrderApproved, OrderCancelled)
}


def append_events(
    *,
    stream_id: UUID,
    expected_version: int,
    events: Sequence[DomainEvent],
    actor: Actor,
    occurred_at: datetime.datetime,
) -> list[Event]:
    """Append ``events`` to a stream whose current version is ``expected_version``.

    ``occurred_at`` is the time the command changed the write models, so the read
    model's ``last_updated`` equals the order's ``updated_at``. Must run inside the
    command's transaction. The (stream, version) unique
    constraint makes a concurrent writer of the same version fail rather than fork
    the stream. The committed events are published to the read side after COMMIT.
    """
    metadata: dict[str, Any] = actor.as_metadata()
    rows = [
        Event(
            stream_id=stream_id,
            version=expected_version + offset,
            type=event.type,
            data=dataclasses.asdict(event),
            metadata=metadata,
            occurred_at=occurred_at,
        )
        for offset, event in enumerate(events, start=1)
    ]
    for row in rows:
        row.save(force_insert=True)
    publish_after_commit(rows)
    return rows
