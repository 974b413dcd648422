"""Timestamps a client sends (filters, cursors): strict ISO 8601, always read as UTC.

``datetime.fromisoformat`` and Django's ``DateTimeField`` take far more than they
should: ``20261202``, week dates (``2026-W49-3``), a date followed by an offset, an
offset of ``+99:99``, and ``12/02/2026`` read as month/day. An ambiguous value must be
refused, never guessed, so exactly two forms are accepted:

- a date, ``YYYY-MM-DD``: 00:00 UTC that day (the day ``day_placed`` calls it);
- a date-time, ``YYYY-MM-DDThh:mm:ss`` with an optional fraction of 1 to 6 digits and
  ``Z`` or an offset ``±hh:mm`` (RFC 3339). Without an offset it is refused: its time
  zone would be a guess.

The value is converted to UTC here: PostgreSQL takes offsets only up to ±15:59 (Python
up to ±23:59), and an offset near year 1 or 9999 can leave the calendar once in UTC.
"""

from __future__ import annotations

import datetime
import re

# [0-9], not \d: \d also matches other scripts' digits, which fromisoformat may read.
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DATE_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?"
    r"(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])"
)

ACCEPTED = (
    "a date (YYYY-MM-DD, read as 00:00 UTC) or a date-time with Z or an offset "
    "(YYYY-MM-DDThh:mm:ss[.ffffff]Z or ±hh:mm)"
)


def parse_timestamp(text: str) -> datetime.datetime:
    """``text`` as an aware UTC datetime; ``ValueError`` unless it is one of the two forms,
    names a real date and time, and stays within years 1 to 9999 in UTC."""
    try:
        if _DATE.fullmatch(text):
            day = datetime.date.fromisoformat(text)
            return datetime.datetime.combine(day, datetime.time(), datetime.UTC)
        if _DATE_TIME.fullmatch(text):
            return datetime.datetime.fromisoformat(text).astimezone(datetime.UTC)
    except OverflowError:
        raise ValueError("Enter a date-time within years 1 to 9999 in UTC.") from None
    except ValueError as exc:  # the right form, but no such day or time: 2026-02-30
        raise ValueError(f"Enter a real date and time ({exc}).") from None
    raise ValueError(f"Enter {ACCEPTED}.")


def parse_date(text: str) -> datetime.date:
    """``text`` as a date; ``ValueError`` unless it is exactly ``YYYY-MM-DD`` and a real day."""
    if not _DATE.fullmatch(text):
        raise ValueError("Enter a date, YYYY-MM-DD.")
    try:
        return datetime.date.fromisoformat(text)
    except ValueError as exc:  # the right form, but no such day: 2026-02-30
        raise ValueError(f"Enter a real date ({exc}).") from None
