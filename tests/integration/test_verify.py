"""verify_projections: drift found field by field against the write models, and repaired."""

import io

import pytest
from django.core.management import CommandError, call_command

from orders_read.models import OrderSummary
from orders_write.models import Order
from tests.read_model import summary_rows, varied_history

pytestmark = pytest.mark.django_db


def verify(*args):
    out = io.StringIO()
    call_command("verify_projections", *args, stdout=out)
    return out.getvalue()


def test_a_faithful_read_model_has_no_drift(place, actor):
    varied_history(place, actor, count=8)
    assert "No drift" in verify()


def test_drift_is_reported_and_exits_1(place, actor):
    orders = varied_history(place, actor, count=4)
    OrderSummary.objects.filter(pk=orders[0].id).update(total_cents=1, formatted_total="$0.01")
    OrderSummary.objects.filter(pk=orders[1].id).delete()
    stray = OrderSummary.objects.get(pk=orders[2].id)
    stray.pk = "00000000-0000-0000-0000-000000000001"
    stray.save(force_insert=True)

    out = io.StringIO()
    with pytest.raises(CommandError, match="3 drifted") as excinfo:
        call_command("verify_projections", stdout=out)

    assert excinfo.value.returncode == 1
    report = out.getvalue()
    total = Order.objects.get(pk=orders[0].id).total_cents
    assert f"{orders[0].id}: differs (total_cents: expected {total}, found 1" in report
    assert "formatted_total" in report
    assert f"{orders[1].id}: missing" in report
    assert "00000000-0000-0000-0000-000000000001: extra" in report


def test_a_projection_bug_shows_up_as_drift(place, actor, monkeypatch):
    """Expected rows come from the write models, not the projection code."""
    from orders_read.order_summary import projection

    real_evolve = projection.evolve

    def off_by_one(row, event):
        row = real_evolve(row, event)
        return row and {**row, "item_count": row["item_count"] + 1}

    monkeypatch.setattr(projection, "evolve", off_by_one)
    varied_history(place, actor, count=2)
    with pytest.raises(CommandError):
        verify()


def test_repair_re_projects_drifted_orders(place, actor):
    orders = varied_history(place, actor, count=6)
    expected = summary_rows()
    OrderSummary.objects.filter(pk=orders[3].id).update(status="PENDING", version=1)
    OrderSummary.objects.filter(pk=orders[4].id).delete()

    report = verify("--repair")

    assert "Repaired 2 drifted row(s)" in report
    assert summary_rows() == expected
    assert "No drift" in verify()
