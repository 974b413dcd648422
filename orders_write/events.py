"""Event types (past tense) and appending them to the event log.

Events carry everything a projection needs, so the read side never queries the
write tables. Their ``data`` is plain JSON: identifiers and timestamps as strings.
Each class says the ``schema_version`` its payload is written in today; older payloads
are read in the current shape through ``upcasting.decode``.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple, Protocol
from uuid import UUID

from django.db import connections, router
from django.db.models import Field

from common import tracing
from orders_write.commands import Actor
from orders_write.models import Customer, Event
from orders_write.money import CURRENCY
from orders_write.signals import publish_after_commit


class PricedItem(Protocol):
    """An order line priced from the catalog: an ``OrderItem``, or a ``PricedLine``."""

    @property
    def product_id(self) -> int: ...

    @property
    def quantity(self) -> int: ...

    @property
    def unit_price_cents(self) -> int: ...


class PricedLine(NamedTuple):
    """A priced line where no ``OrderItem`` is built (bulk loading builds millions)."""

    product_id: int
    quantity: int
    unit_price_cents: int


def order_total_cents(items: Iterable[PricedItem]) -> int:
    """What an order costs: each line's quantity times its unit price, summed."""
    return sum(item.quantity * item.unit_price_cents for item in items)


@dataclass(frozen=True)
class OrderPlaced:
    type: ClassVar[str] = "OrderPlaced"
    # 2: ``currency`` (version 1 had none: those orders were in US dollars).
    schema_version: ClassVar[int] = 2
    order_id: str
    customer_id: int
    customer_name: str
    customer_email: str
    payment_method_id: int
    items: list[dict[str, int]]
    total_cents: int
    placed_at: str
    currency: str

    @classmethod
    def create(
        cls,
        *,
        order_id: UUID,
        customer: Customer,
        payment_method_id: int,
        items: Sequence[PricedItem],
        placed_at: datetime.datetime,
    ) -> OrderPlaced:
        """The event of placing an order: the one place its payload is put together.

        The customer's name and email are copied as they are now (the order keeps
        them if the customer changes later), each line with its catalog price, and
        the total derived from the lines, so the handler and the bulk loader cannot
        write two shapes of the same event.
        """
        return cls(
            order_id=str(order_id),
            customer_id=customer.pk,
            customer_name=customer.name,
            customer_email=customer.email,
            payment_method_id=payment_method_id,
            items=[
                {
                    "product_id": item.product_id,
                    "quantity": item.quantity,
                    "unit_price_cents": item.unit_price_cents,
                }
                for item in items
            ],
            total_cents=order_total_cents(items),
            placed_at=placed_at.isoformat(),
            currency=CURRENCY,
        )


@dataclass(frozen=True)
class OrderApproved:
    type: ClassVar[str] = "OrderApproved"
    schema_version: ClassVar[int] = 1
    order_id: str
    approved_by: str
    approved_at: str


@dataclass(frozen=True)
class OrderCancelled:
    type: ClassVar[str] = "OrderCancelled"
    schema_version: ClassVar[int] = 1
    order_id: str
    reason: str
    cancelled_by: str
    cancelled_at: str


DomainEvent = OrderPlaced | OrderApproved | OrderCancelled
EVENT_TYPES: dict[str, type[DomainEvent]] = {
    cls.type: cls for cls in (OrderPlaced, OrderApproved, OrderCancelled)
}


def payload(event: DomainEvent) -> dict[str, Any]:
    """What the log stores as an event's ``data``: its fields, by name."""
    # Not dataclasses.asdict, which deep-copies every value: the fields hold JSON values
    # only and an event is never changed, so sharing them is safe (and the bulk loader
    # builds millions of these).
    return {field.name: getattr(event, field.name) for field in dataclasses.fields(event)}


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
    if context := tracing.trace_context():
        # The command's span: projections link their work to it.
        metadata[tracing.TRACE_CONTEXT_KEY] = context
    rows = [
        Event(
            stream_id=stream_id,
            version=expected_version + offset,
            type=event.type,
            schema_version=event.schema_version,
            data=payload(event),
            metadata=metadata,
            occurred_at=occurred_at,
        )
        for offset, event in enumerate(events, start=1)
    ]
    _insert(rows)
    publish_after_commit(rows)
    return rows


# What the database fills in on each new event: its place in the log, and the id of the
# writing transaction (the column's default).
ASSIGNED = ("position", "transaction_id")


def _insert(rows: Sequence[Event]) -> None:
    """INSERT each row, as ``row.save(force_insert=True)`` does, by a statement built once.

    Every command appends an event, and the ORM compiled that INSERT anew each time, at
    a cost that showed among the largest of a command's own CPU. The values go through
    each field's ``get_db_prep_save`` as the ORM's would; what the database assigns
    comes back by RETURNING.
    """
    alias = router.db_for_write(Event)
    connection = connections[alias]
    sql, fields = _insert_statement(alias)
    with connection.cursor() as cursor:
        for row in rows:
            cursor.execute(
                sql,
                [
                    field.get_db_prep_save(getattr(row, field.attname), connection)
                    for field in fields
                ],
            )
            row.position, row.transaction_id = cursor.fetchone()
            row._state.adding, row._state.db = False, alias


@functools.cache
def _insert_statement(alias: str) -> tuple[str, list[Field]]:
    """The INSERT of one event on database ``alias``, and the fields it is given."""
    quote = connections[alias].ops.quote_name
    fields = [field for field in Event._meta.concrete_fields if field.name not in ASSIGNED]
    columns = ", ".join(quote(field.column) for field in fields)
    assigned = ", ".join(quote(Event._meta.get_field(name).column) for name in ASSIGNED)
    sql = (
        f"INSERT INTO {quote(Event._meta.db_table)} ({columns}) "
        f"VALUES ({', '.join(['%s'] * len(fields))}) RETURNING {assigned}"
    )
    return sql, fields
