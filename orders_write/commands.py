"""Commands (what a caller asks for) and the result every command returns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from orders_write.errors import ErrorCode


@dataclass(frozen=True)
class OrderLine:
    product_id: int
    quantity: int
    # Optional: the price the client saw. Never trusted; a mismatch is refused.
    price_cents: int | None = None


@dataclass(frozen=True)
class PlaceOrder:
    customer_id: int
    payment_method_id: int
    items: tuple[OrderLine, ...]


@dataclass(frozen=True)
class ApproveOrder:
    order_id: UUID


@dataclass(frozen=True)
class CancelOrder:
    order_id: UUID
    reason: str


@dataclass(frozen=True)
class Actor:
    """Who sends a command: the authenticated user (or the system) and the request."""

    user_id: int | None = None
    username: str = "system"
    request_id: str = ""
    # The client's Idempotency-Key, when the command came with one.
    idempotency_key: str | None = None

    @classmethod
    def from_user(
        cls, user: Any, *, request_id: str = "", idempotency_key: str | None = None
    ) -> Actor:
        return cls(
            user_id=user.pk,
            username=user.get_username(),
            request_id=request_id,
            idempotency_key=idempotency_key,
        )

    def as_metadata(self) -> dict[str, Any]:
        return {
            "actor_id": self.user_id,
            "actor": self.username,
            "request_id": self.request_id,
            "idempotency_key": self.idempotency_key,
        }


SYSTEM = Actor()


@dataclass(frozen=True)
class CommandResult:
    """What every command returns: ok with data, or a failure with a message and a stable code."""

    success: bool
    data: dict[str, Any] | None = None
    error: str | None = None
    code: ErrorCode | None = None

    @classmethod
    def ok(cls, data: dict[str, Any] | None = None) -> CommandResult:
        return cls(success=True, data=data or {})

    @classmethod
    def fail(cls, code: ErrorCode, error: str) -> CommandResult:
        return cls(success=False, error=error, code=code)
