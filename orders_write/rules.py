"""Business rules that need no database: pure functions, unit-tested on their own."""

from collections.abc import Sequence

from orders_write.commands import OrderLine
from orders_write.errors import CommandRejected, ErrorCode
from orders_write.models import ALLOWED_TRANSITIONS

MAX_ORDER_TOTAL_CENTS = 100_000_000  # $1,000,000
MAX_LINES_PER_ORDER = 100
MAX_QUANTITY_PER_LINE = 10_000


def check_lines(lines: Sequence[OrderLine]) -> None:
    """An order has 1..MAX_LINES_PER_ORDER lines, one per product, each with a sane quantity."""
    if not lines:
        raise CommandRejected(ErrorCode.EMPTY_ORDER, "Order must have at least one item")
    check_line_count(len(lines))
    seen: set[int] = set()
    for line in lines:
        if line.product_id in seen:
            raise CommandRejected(
                ErrorCode.DUPLICATE_PRODUCT,
                f"Product {line.product_id} appears on more than one line; "
                "send one line with the total quantity",
            )
        seen.add(line.product_id)
        if (
            isinstance(line.quantity, bool)
            or not isinstance(line.quantity, int)
            or not 1 <= line.quantity <= MAX_QUANTITY_PER_LINE
        ):
            raise CommandRejected(
                ErrorCode.INVALID_QUANTITY,
                f"Quantity must be a whole number from 1 to {MAX_QUANTITY_PER_LINE}",
            )


def check_line_count(count: int) -> None:
    """At most MAX_LINES_PER_ORDER lines.

    On its own so the API can apply it to a request's list before it reads a single
    line: validating thousands of lines only to refuse them all is where a bad
    request's cost used to grow with its size.
    """
    if count > MAX_LINES_PER_ORDER:
        raise CommandRejected(
            ErrorCode.TOO_MANY_LINES,
            f"An order has at most {MAX_LINES_PER_ORDER} lines",
        )


def check_order_total(total_cents: int) -> None:
    if total_cents > MAX_ORDER_TOTAL_CENTS:
        raise CommandRejected(ErrorCode.ORDER_TOO_LARGE, "Order exceeds maximum value")


def check_transition(current: str, target: str) -> None:
    if target not in ALLOWED_TRANSITIONS[current]:
        raise CommandRejected(
            ErrorCode.INVALID_TRANSITION,
            f"An order that is {current} cannot become {target}",
        )


def check_cancel_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise CommandRejected(ErrorCode.REASON_REQUIRED, "A reason is required to cancel")
    return reason
