"""What a projection is to the engine: a name, its tables, its events, how it applies them.

A projection is a small object; the engine calls it and never looks inside. It
declares the models whose tables it owns (a rebuild copies and swaps all of them),
the event types it handles (the engine hands it only those), how it applies a batch
of events to its tables idempotently, and how it folds the whole log from scratch for
a rebuild (by default: every event, in log order, through ``apply``), optionally also
as one set-based SQL statement, optionally how it applies a range of the log in SQL (a
large catch-up), and optionally a command's events as statements that need no answer
(the inline path sends them all in one query).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Model

from orders_read.engine.ledger import AppliedEvents, unclaimed
from orders_read.engine.set_based import EVERY_STREAM, Streams
from orders_write.event_log import AnyEvent, LogPosition

if TYPE_CHECKING:
    from orders_read.engine.rebuild import Replay

Row = dict[str, Any]
# A statement and its parameters.
SQL = tuple[str, Sequence[Any] | Mapping[str, Any]]


@dataclass(frozen=True)
class Tables:
    """Where a projection writes: its live models, or a rebuild's copies of them.

    ``tables[Model]`` is the model to write through: ``Model`` itself, or the copy a
    rebuild fills in its place.
    """

    copies: Mapping[type[Model], type[Model]] = field(default_factory=dict)

    def __getitem__(self, model: type[Model]) -> type[Model]:
        return self.copies.get(model, model)


LIVE = Tables()


class Projection:
    """The base of every projection: subclass it, fill in the class attributes and ``apply``."""

    # Unique; names the checkpoint, dead letters and the ``--projection`` choice.
    name: ClassVar[str]
    # Every model whose table the projection writes (and a rebuild copies and swaps), in
    # the order ``apply`` first touches them; a ledger (``claim``) comes before anything
    # else. A rebuild's swap locks them in that order (ledgers first), so a write in
    # flight never deadlocks with it: each waits for the other in the same direction.
    models: ClassVar[tuple[type[Model], ...]]
    # The event types ``apply`` is given; the others pass it by.
    event_types: ClassVar[frozenset[str]]
    # Whether the inline path runs ``apply`` in a transaction of its own (catch-up and
    # rebuilds always do) when it applies the projection alone: with other projections
    # of its database it always shares their one transaction. Only a projection whose
    # every write is one statement (or that opens the transaction itself where it needs
    # more) may turn it off, to save the round trips of BEGIN and COMMIT on every command.
    atomic_inline: ClassVar[bool] = True
    # Whether each row is one stream's fold alone (no row adds streams up), so that
    # ``set_based_rebuild`` over disjoint ranges of streams fills disjoint rows.
    rows_per_stream: ClassVar[bool] = False

    def handled(self, events: Iterable[AnyEvent]) -> list[AnyEvent]:
        """The events of the types this projection handles, in their order."""
        return [event for event in events if event.type in self.event_types]

    def apply(self, events: list[AnyEvent], tables: Tables = LIVE) -> int:
        """Apply events (log order) to ``tables``; returns rows written.

        Idempotent: events already applied (delivered by the inline path and catch-up
        both, or replayed) change nothing. Always called inside a transaction the
        engine opened (but see ``atomic_inline``), so a failure leaves ``tables`` as
        they were.
        """
        raise NotImplementedError

    def inline_statements(
        self, connection: BaseDatabaseWrapper, events: list[AnyEvent]
    ) -> list[SQL] | None:
        """Statements applying ``events`` (handled types, log order) to the live tables as
        ``apply`` would, or None.

        Optional (PostgreSQL): the inline path sends every projection's statements of one
        database as one query, which PostgreSQL runs as one transaction: the COMMIT that
        ``apply`` in a shared transaction costs, without the round trips of BEGIN, each
        statement and COMMIT. So the statements must be idempotent on their own and
        must not need anything read from the tables first; where ``apply`` would read
        (or there is no such statement), return None, and the inline path applies the
        projections of that database through ``apply`` instead.
        """
        return None

    def unapplied(self, events: list[AnyEvent]) -> list[AnyEvent]:
        """Of ``events`` (handled types, log order), those the tables do not reflect yet.

        What lag counts, and what the inline path's checkpoint advance stops at
        (``reflected``). By default a projection with a ledger (an ``AppliedEvents``
        subclass among ``models``) answers from it; one without reflects nothing it can
        prove, so every event counts until catch-up reads it. A projection with
        versioned rows answers from its rows' versions.
        """
        for model in self.models:
            if issubclass(model, AppliedEvents):
                return unclaimed(model, events)
        return list(events)

    def fold(self, replay: Replay) -> int:
        """Fold the log from scratch into the empty copies ``replay.tables``; rows written.

        By default every handled event goes through ``apply`` in log order, a batch at
        a time. Override it with something faster when the projection can fold in
        another order (by stream, in memory).
        """
        return replay.through_apply()

    def set_based_rebuild(
        self,
        connection: BaseDatabaseWrapper,
        tables: Tables,
        end: LogPosition,
        streams: Streams = EVERY_STREAM,
    ) -> SQL | None:
        """One statement folding the log up to ``end`` into the empty ``tables``, or None.

        Optional (PostgreSQL only): the engine runs it, and should it fail, folds with
        ``fold`` instead. It fills the projection's own tables; a ledger among them is
        the engine's to fill, beside it, with every handled event up to ``end`` (what
        ``claim`` records once the Python fold has applied them all). Where
        ``rows_per_stream``, the engine asks for one statement per range of
        ``streams`` and runs them side by side: each fills the rows of its streams.
        """
        return None

    def range_statements(
        self, connection: BaseDatabaseWrapper, after: LogPosition, end: LogPosition
    ) -> list[SQL] | None:
        """Statements applying the log's events in (``after``, ``end``] to the live tables,
        or None.

        Optional (PostgreSQL, the log and the tables in one database): catch-up runs
        them instead of ``apply`` while the backlog is large, in the transaction that
        moves the checkpoint, so like ``apply`` they must leave the tables as applying
        those events in log order would, and be idempotent. Should one fail, catch-up
        goes on through ``apply``, which dead-letters a poison event.
        """
        return None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"
