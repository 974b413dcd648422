"""Timestamps read by psycopg's own loader: the values Django's loader gives, faster."""

import datetime
from unittest import mock

import pytest
from django.db.backends.postgresql.psycopg_any import BaseTzLoader
from django.test import override_settings

from orders_read.models import OrderSummary
from tests.conftest import postgres_only, projecting

pytestmark = [
    pytest.mark.django_db,
    postgres_only("the timestamp loader is psycopg's, the PostgreSQL driver"),
]

# Whole seconds and microseconds: psycopg and Django must agree on both.
INSTANTS = [
    datetime.datetime(2026, 12, 2, 5, 54, 44, tzinfo=datetime.UTC),
    datetime.datetime(2026, 12, 2, 5, 54, 44, 123456, tzinfo=datetime.UTC),
]


def test_timestamps_are_aware_utc_without_djangos_loader(place):
    order = projecting(place)(1)
    OrderSummary.objects.filter(pk=order.id).update(placed_at=INSTANTS[0], last_updated=INSTANTS[1])

    with mock.patch.object(BaseTzLoader, "load", side_effect=AssertionError):
        row = OrderSummary.objects.values("placed_at", "last_updated").get(pk=order.id)

    assert [row["placed_at"], row["last_updated"]] == INSTANTS
    assert all(row[name].tzinfo is datetime.UTC for name in row)


@override_settings(USE_TZ=False)
def test_without_use_tz_django_loads_them_naive(place):
    order = projecting(place)(1)
    OrderSummary.objects.filter(pk=order.id).update(placed_at=INSTANTS[1].replace(tzinfo=None))

    placed_at = OrderSummary.objects.values_list("placed_at", flat=True).get(pk=order.id)

    assert placed_at == INSTANTS[1].replace(tzinfo=None)
