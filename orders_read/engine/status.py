"""How far behind the event log each projection is, and what it could not apply.

Lag is the committed events the projection does not reflect yet, not the events after
its checkpoint: ``reflected`` says why, and how the checkpoint is kept near the head.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from django.utils import timezone

from orders_read.engine import registry
from orders_read.engine.catchup import get_checkpoint
from orders_read.engine.reflected import not_reflected
from orders_read.models import DeadLetter
from orders_write import event_log
from orders_write.event_log import LogPosition

# At most this many events after the checkpoint are read for the lag: ``/health``
# answers in about the same time whether catch-up is 10 events behind or the whole log
# (a stalled follower). Each is read and asked about (is it reflected?), about 20 µs an
# event here: 1,000 keep the worst case near 20 ms, where 10,000 took 200 ms.
LAG_COUNT_LIMIT = 1_000
# Dead letters listed by ``projection_status`` (all are counted).
DEAD_LETTERS_LISTED = 20


@dataclass
class ProjectionStatus:
    name: str
    checkpoint: LogPosition
    head_position: int
    lag_events: int
    lag_seconds: float
    # True when more events follow the ones read (the limit): the lag is at least
    # ``lag_events``.
    lag_events_capped: bool = False
    dead_letter_count: int = 0
    # The first ``DEAD_LETTERS_LISTED`` of them, in log order.
    dead_letters: list[DeadLetter] = field(default_factory=list)

    @property
    def lag_events_text(self) -> str:
        """``lag_events`` for people: ``1000+`` when events after the ones read were not read."""
        return f"{self.lag_events}+" if self.lag_events_capped else str(self.lag_events)

    def as_dict(self) -> dict[str, object]:
        return {
            "checkpoint": {
                "transaction_id": self.checkpoint.transaction_id,
                "position": self.checkpoint.position,
            },
            "head_position": self.head_position,
            "lag_events": self.lag_events,
            "lag_events_capped": self.lag_events_capped,
            "lag_seconds": round(self.lag_seconds, 3),
            "dead_letters": self.dead_letter_count,
        }


@dataclass(frozen=True)
class Lag:
    """The committed events a projection does not reflect yet (see ``projection_lag``)."""

    checkpoint: LogPosition
    events: int
    # True when more events follow the ones read (the limit): the lag is at least ``events``.
    capped: bool
    seconds: float


def projection_lag(name: str, now: datetime.datetime | None = None) -> Lag:
    """Lag: the committed events after the checkpoint that the projection does not reflect.

    Committed, safe to read yet or not: an event behind a long-open transaction is
    lag. Of the first ``LAG_COUNT_LIMIT`` events after the checkpoint (``capped`` says
    more follow), ``events`` counts those not reflected and ``seconds`` is the age of
    the first of them in log order. Reading walks the (transaction id, position)
    index from the checkpoint, never the whole backlog: two queries when the
    projection is current (the checkpoint, the events after it), the cost of a read
    that only needs the lag (the stats' ``as_of``).
    """
    now = now or timezone.now()
    checkpoint = get_checkpoint(name)
    window = event_log.headers_after(checkpoint, LAG_COUNT_LIMIT + 1)
    behind = not_reflected(registry.get(name), window[:LAG_COUNT_LIMIT])
    return Lag(
        checkpoint=checkpoint,
        events=len(behind),
        capped=len(window) > LAG_COUNT_LIMIT,
        seconds=(now - behind[0].occurred_at).total_seconds() if behind else 0.0,
    )


def projection_status(name: str, now: datetime.datetime | None = None) -> ProjectionStatus:
    """The projection's lag (``projection_lag``), the log's head and its dead letters."""
    lag = projection_lag(name, now)
    head = event_log.head()
    dead_letters = DeadLetter.objects.filter(projection=name).order_by("position")
    return ProjectionStatus(
        name=name,
        checkpoint=lag.checkpoint,
        head_position=head.position if head else 0,
        lag_events=lag.events,
        lag_events_capped=lag.capped,
        lag_seconds=lag.seconds,
        dead_letter_count=dead_letters.count(),
        dead_letters=list(dead_letters[:DEAD_LETTERS_LISTED]),
    )


def all_statuses() -> list[ProjectionStatus]:
    """Every registered projection's status (what ``/health`` and ``projection_status`` show)."""
    now = timezone.now()
    return [projection_status(name, now) for name in registry.names()]
