"""Money is integer cents everywhere; this formats it for people."""

# The catalog's currency: every price and order is in US dollars.
CURRENCY = "USD"


def format_cents(cents: int) -> str:
    """Format integer cents as US dollars: ``123456`` -> ``"$1,234.56"``."""
    sign = "-" if cents < 0 else ""
    dollars, remainder = divmod(abs(cents), 100)
    return f"{sign}${dollars:,}.{remainder:02d}"
