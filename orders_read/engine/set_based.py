"""Pieces of SQL that set-based rebuilds share: reading payload values, naming event types.

A set-based fold reads JSON payloads in the server. It must read a value exactly as
the Python fold would, or not at all: a value it cannot read strictly becomes NULL,
which a NOT NULL column (or the fold's own check) then refuses, so the statement fails
and the rebuild folds in Python instead, which dead-letters the event.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

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
