"""Formatting integer cents for people, without a database."""

import pytest

from orders_write.money import format_cents


@pytest.mark.parametrize(
    ("cents", "text"),
    [
        (0, "$0.00"),
        (1, "$0.01"),
        (5, "$0.05"),
        (99, "$0.99"),
        (100, "$1.00"),
        (123_456, "$1,234.56"),
        (100_000, "$1,000.00"),
        (100_000_000, "$1,000,000.00"),
        # Far beyond any order: integers do not lose cents the way floats would.
        (10**18 + 1, "$10,000,000,000,000,000.01"),
    ],
)
def test_format_cents(cents, text):
    assert format_cents(cents) == text


@pytest.mark.parametrize(
    ("cents", "text"),
    [
        (-1, "-$0.01"),
        (-250, "-$2.50"),
        (-123_456, "-$1,234.56"),
    ],
)
def test_negative_amounts_put_the_sign_before_the_dollar(cents, text):
    assert format_cents(cents) == text
