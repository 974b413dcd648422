"""Stable error codes: API clients match on these strings, so they never change."""

from enum import StrEnum


class ErrorCode(StrEnum):
    NO_HANDLER = "NO_HANDLER"
    VALIDATION_ERROR = "VALIDATION_ERROR"
    CUSTOMER_NOT_FOUND = "CUSTOMER_NOT_FOUND"
    ACCOUNT_SUSPENDED = "ACCOUNT_SUSPENDED"
    PAYMENT_METHOD_INVALID = "PAYMENT_METHOD_INVALID"
    EMPTY_ORDER = "EMPTY_ORDER"
    TOO_MANY_LINES = "TOO_MANY_LINES"
    DUPLICATE_PRODUCT = "DUPLICATE_PRODUCT"
    INVALID_QUANTITY = "INVALID_QUANTITY"
    PRODUCT_NOT_FOUND = "PRODUCT_NOT_FOUND"
    PRODUCT_UNAVAILABLE = "PRODUCT_UNAVAILABLE"
    PRICE_MISMATCH = "PRICE_MISMATCH"
    ORDER_TOO_LARGE = "ORDER_TOO_LARGE"
    ORDER_NOT_FOUND = "ORDER_NOT_FOUND"
    INVALID_TRANSITION = "INVALID_TRANSITION"
    REASON_REQUIRED = "REASON_REQUIRED"
    # The API's Idempotency-Key header (orders_write.idempotency), not business rules.
    IDEMPOTENCY_KEY_INVALID = "IDEMPOTENCY_KEY_INVALID"
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
    IDEMPOTENCY_KEY_IN_PROGRESS = "IDEMPOTENCY_KEY_IN_PROGRESS"


class CommandRejected(Exception):
    """A business rule refused the command; raised inside the transaction so it rolls back."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
