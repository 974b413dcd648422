"""Old event shapes read as the current one: upcasters per (type, version), aliases for renames.

The event log is never rewritten, yet event types change shape over the years. Each
stored event carries the schema version its payload was written in (the event table's
``schema_version`` column; each event class says its current one), and ``decode`` turns
any stored (type, version, payload) into the current type and shape, one upcaster
(version N → N + 1) at a time. Every reader goes through it: ``event_log.records`` (catch-
up, the Python folds, dead-letter retries, verify's repair), the admin's history. Events
the inline path receives were written by this very code, so they are current already.

An upcaster that can also say what it does in SQL (``AddField``) lets the set-based
rebuild read old payloads in the server (``sql_upcast``); one that cannot (a plain
function, ``Upcast``) makes the rebuild fold in Python, through ``decode``.

A renamed type keeps its old name readable through ``ALIASES`` (old name → new name);
queries by type ask ``stored_names`` for every name an event type was ever stored under.

Adding a version: bump the class's ``schema_version``, register the upcaster from the
previous one below, and add a golden sample of the new version to
``tests/golden/events.jsonl`` (samples are only ever added).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from orders_write.events import EVENT_TYPES, OrderPlaced

Payload = dict[str, Any]


class Upcaster(Protocol):
    """Turns a payload of one schema version into the next version's shape."""

    def python(self, data: Payload) -> Payload: ...

    def sql(self, data: str, param: str) -> tuple[str, dict[str, Any]] | None:
        """The same on a jsonb expression ``data``; parameters named from ``param``.

        None when it cannot be said in SQL.
        """


@dataclass(frozen=True)
class AddField:
    """The version before lacked ``key``: old events read as ``value`` (a JSON value)."""

    key: str
    value: Any

    def python(self, data: Payload) -> Payload:
        return {self.key: self.value, **data}

    def sql(self, data: str, param: str) -> tuple[str, dict[str, Any]]:
        # ``||`` keeps the right side's keys: a payload that has the key keeps its value.
        return (
            f"(jsonb_build_object(%({param}_key)s::text, %({param}_value)s::jsonb) || {data})",
            {f"{param}_key": self.key, f"{param}_value": json.dumps(self.value)},
        )


@dataclass(frozen=True)
class Upcast:
    """Any change, as a function of the payload (the set-based rebuild then folds in Python)."""

    function: Callable[[Payload], Payload]

    def python(self, data: Payload) -> Payload:
        return self.function(data)

    def sql(self, data: str, param: str) -> None:
        return None


# (event type, schema version) → the upcaster to the next version.
UPCASTERS: dict[tuple[str, int], Upcaster] = {
    # Version 2 of OrderPlaced names its currency; every order before it was in dollars.
    (OrderPlaced.type, 1): AddField("currency", "USD"),
}
# A renamed event type: old name → current name.
ALIASES: dict[str, str] = {}


def current_version(event_type: str) -> int:
    """The schema version ``event_type`` is written in today (1 for a type not known here)."""
    cls = EVENT_TYPES.get(event_type)
    return cls.schema_version if cls else 1


def current_name(event_type: str) -> str:
    """The name a stored event type has today (a renamed type is read under its new name)."""
    return ALIASES.get(event_type, event_type)


def decode(event_type: str, schema_version: int, data: Payload) -> tuple[str, Payload]:
    """A stored event's type and payload as the current code knows them.

    A version newer than the code's (written by a newer release during a rolling
    deploy) is given as is: payloads only ever gain fields, so it reads as the current
    shape plus fields this code ignores.
    """
    event_type = current_name(event_type)
    for version in range(schema_version, current_version(event_type)):
        data = UPCASTERS[event_type, version].python(data)
    return event_type, data


def sql_upcast(
    event_type: str, data: str, schema_version: str
) -> tuple[str, dict[str, Any]] | None:
    """``decode``'s payload in SQL: jsonb ``data`` of ``schema_version`` (SQL expressions).

    None when an upcaster on the way cannot be said in SQL.
    """
    expression, params = data, {}
    for version in range(1, current_version(event_type)):
        step = UPCASTERS[event_type, version].sql(expression, f"upcast_{version}")
        if step is None:
            return None
        sql, step_params = step
        expression = f"CASE WHEN {schema_version} <= {version} THEN {sql} ELSE {expression} END"
        params.update(step_params)
    return expression, params


def stored_names(event_types: Iterable[str]) -> set[str]:
    """Every name the events of ``event_types`` are stored under (aliases included)."""
    names = set(event_types)
    return names | {old for old, new in ALIASES.items() if new in names}


def missing_upcasters(types: Mapping[str, Any] = EVENT_TYPES) -> list[tuple[str, int]]:
    """(type, version) pairs with no upcaster to the next version: each is a bug."""
    return [
        (name, version)
        for name, cls in types.items()
        for version in range(1, cls.schema_version)
        if (name, version) not in UPCASTERS
    ]
