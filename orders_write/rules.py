"""Business rules that need no database: pure functions, unit-tested on their own."""

from collections.abc import Sequence

from orders_write.commands import OrderLine
from orders_write.errors import CommandRejected, ErrorCode
from orders_write.models import ALLOWED_TRANSITIONS, Customer, Product

MAX_ORDER_TOTAL_CENTS = 100_000_000  # $1,000,000
MAX_LINES_PER_ORDER = 100
MAX_QUANTITY_PER_LINE = 10_000


def check_customer_can_order(status: str, *, payment_method_usable: bool) -> None:
    """A suspended customer cannot order; the payment method must be theirs and enabled."""
    if status == Customer.Status.SUSPENDED:
        raise CommandRejected(ErrorCode.ACCOUNT_SUSPENDED, "Account suspended")
    if not payment_method_usable:
        raise CommandRejected(
            ErrorCode.PAYMENT_METHOD_INVALID,
            "Payment method not found, disabled, or not the customer's",
        )


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


def check_catalog_line(line: OrderLine, product: Product | None) -> None:
    """The line's product exists and is for sale; a client price, if sent, is the catalog's.

    Prices come from the catalog: a client price is only ever compared, never used.
    """
    if product is None:
        raise CommandRejected(ErrorCode.PRODUCT_NOT_FOUND, f"Product {line.product_id} not found")
    if not product.is_available:
        raise CommandRejected(
            ErrorCode.PRODUCT_UNAVAILABLE, f"Product {product.sku} is not available"
        )
    if line.price_cents is not None and line.price_cents != product.price_cents:
        raise CommandRejected(
            ErrorCode.PRICE_MISMATCH,
            f"Product {product.sku} costs {product.price_cents} cents, not {line.price_cents}",
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
