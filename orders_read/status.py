"""How far behind the event log each projection is, and what it could not apply."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from django.db.models import Min
from django.utils import timezone

from orders_read.catchup import get_checkpoint
from orders_read.models import DeadLetter
from orders_read.projections import PROJECTIONS
from orders_write import event_log
from orders_write.event_log import LogPosition


@dataclass
class ProjectionStatus:
    name: str
    checkpoint: LogPosition
    head_position: int
    lag_events: int
    lag_seconds: float
    dead_letters: list[DeadLetter] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "checkpoint": {
                "transaction_id": self.checkpoint.transaction_id,
                "position": self.checkpoint.position,
            },
            "head_position": self.head_position,
            "lag_events": self.lag_events,
            "lag_seconds": round(self.lag_seconds, 3),
            "dead_letters": len(self.dead_letters),
        }


def projection_status(name: str, now: datetime.datetime | None = None) -> ProjectionStatus:
    """Lag counts every committed event after the checkpoint, safe to read yet or not."""
    now = now or timezone.now()
    checkpoint = get_checkpoint(name)
    head = event_log.head()
    pending = event_log.after(checkpoint, horizon=event_log.MAX_BIGINT)
    oldest = pending.aggregate(oldest=Min("occurred_at"))["oldest"]
    return ProjectionStatus(
        name=name,
        checkpoint=checkpoint,
        head_position=head.position if head else 0,
        lag_events=pending.count(),
        lag_seconds=(now - oldest).total_seconds() if oldest else 0.0,
        dead_letters=list(DeadLetter.objects.filter(projection=name)),
    )


def all_statuses() -> list[ProjectionStatus]:
    now = timezone.now()
    return [projection_status(name, now) for name in PROJECTIONS]
