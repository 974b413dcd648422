"""Pieces of SQL that set-based rebuilds share: payload values, event types, stream ranges.

A set-based fold reads JSON payloads in the server. It must read a value exactly as
the Python fold would, or not at all: a value it cannot read strictly becomes NULL,
which a NOT NULL column (or the fold's own check) then refuses, so the statement fails
and the rebuild folds in Python instead, which dead-letters the event.

A fold whose rows are each one stream's can be run over disjoint ranges of streams
(``Streams``), one statement per range, side by side.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from itertools import pairwise
from typing import Any
from uuid import UUID

from orders_write import event_log
from orders_write.upcasting import stored_names

# JSON number → bigint, NULL for any other JSON type; {json} is the jsonb value, {text}
# the same as text.
JSON_INTEGER = "CASE WHEN jsonb_typeof({json}) = 'number' THEN ({text})::bigint END"
# An ISO 8601 string → timestamptz (a string that is not one makes the statement fail).
JSON_TIMESTAMP = "({text})::timestamptz"


def type_names(params: dict[str, Any], prefix: str, event_types: Iterable[str]) -> str:
    """Placeholders for every name ``event_types`` are stored under, added to ``params``.

    For ``type IN (…)``: a renamed event type is read under each of its names.
    """
    placeholders = []
    for number, name in enumerate(sorted(stored_names(event_types))):
        params[f"{prefix}_{number}"] = name
        placeholders.append(f"%({prefix}_{number})s")
    return ", ".join(placeholders)


@dataclass(frozen=True)
class Streams:
    """The streams with ``start <= stream_id < stop`` (None: no bound on that side)."""

    start: UUID | None = None
    stop: UUID | None = None

    def where(self, params: dict[str, Any]) -> str:
        """This range as a condition on ``stream_id``; its bounds are added to ``params``."""
        conditions = ["TRUE"]
        if self.start is not None:
            params["streams_start"] = self.start
            conditions.append("stream_id >= %(streams_start)s")
        if self.stop is not None:
            params["streams_stop"] = self.stop
            conditions.append("stream_id < %(streams_stop)s")
        return " AND ".join(conditions)


EVERY_STREAM = Streams()


def stream_ranges(parts: int) -> list[Streams]:
    """The log's streams in ``parts`` disjoint ranges (fewer for a short log) of about
    as many events each: every stream is in exactly one."""
    bounds = [None, *event_log.stream_cuts(parts), None]
    return [Streams(start, stop) for start, stop in pairwise(bounds)]
