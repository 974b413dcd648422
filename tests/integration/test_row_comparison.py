"""The dashboard's keyset as one SQL row comparison: the rows its lookups would give."""

import datetime
import operator

import pytest

from orders_read.models import OrderSummary
from orders_read.pagination import KEY, RowComparison
from tests.read_model import varied_history

COMPARE = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


@pytest.mark.django_db
@pytest.mark.parametrize("sign", list(COMPARE))
def test_the_rows_past_a_position_on_either_database(place, actor, sign):
    """On SQLite the values are compared as stored text (timestamps and UUIDs), so each
    is prepared by its field: the rows must be the same as the comparison in Python."""
    orders = varied_history(place, actor, count=7)
    # Rows that share placed_at: only the order id tells them apart.
    same = datetime.datetime(2026, 1, 2, 3, 4, 5, 600000, tzinfo=datetime.UTC)
    OrderSummary.objects.filter(pk__in=[order.id for order in orders[:4]]).update(placed_at=same)
    rows = list(OrderSummary.objects.order_by("placed_at", "order_id"))
    position = (rows[2].placed_at, rows[2].order_id)
    assert rows[2].placed_at == same

    past = OrderSummary.objects.filter(RowComparison(KEY, sign, position))

    expected = {
        row.order_id for row in rows if COMPARE[sign]((row.placed_at, row.order_id), position)
    }
    assert set(past.values_list("order_id", flat=True)) == expected
    assert 0 < len(expected) < len(rows)


def test_only_a_comparison_operator_is_taken():
    with pytest.raises(ValueError, match="not a row comparison"):
        RowComparison(KEY, "= (1, 1) OR (1, 1) =", (1, 2))
