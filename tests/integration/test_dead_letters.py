"""A poison event stops nothing, is kept, retried, and clears once fixed."""

import pytest
from django.core.management import call_command

from orders_read.engine.catchup import catch_up
from orders_read.models import DeadLetter, OrderSummary
from orders_read.order_summary import projection
from orders_read.order_summary.projection import order_summary
from orders_write.models import Event, OrderStatus
from tests.read_model import varied_history

# Real commits: on PostgreSQL, catch-up waits for every open writer transaction,
# and a test wrapped in one would be waiting for itself.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def poison(monkeypatch):
    """Make the projection fail on the events of chosen streams, until ``cure()``."""
    poisoned = set()
    real_evolve = projection.evolve

    def evolve(row, event):
        if event.stream_id in poisoned:
            raise ValueError(f"cannot project {event.type}")
        return real_evolve(row, event)

    monkeypatch.setattr(projection, "evolve", evolve)
    return poisoned


def test_poison_event_is_dead_lettered_and_the_rest_applied(place, actor, poison, capsys):
    orders = varied_history(place, actor, count=8, project=False)
    # Order 3 was approved then cancelled: all three of its events are poison.
    poison.add(orders[3].id)

    result = catch_up(order_summary)

    assert result.dead_lettered == 3
    assert set(OrderSummary.objects.values_list("order_id", flat=True)) == {
        order.id for order in orders if order.id != orders[3].id
    }
    letters = list(DeadLetter.objects.order_by("position"))
    assert [letter.event_type for letter in letters] == [
        "OrderPlaced",
        "OrderApproved",
        "OrderCancelled",
    ]
    assert all(letter.stream_id == orders[3].id for letter in letters)
    assert "cannot project" in letters[0].error
    # The checkpoint went past them: later events are not held up.
    assert result.checkpoint.position == Event.objects.order_by("-position").first().position

    call_command("projection_status")
    status = capsys.readouterr().out
    assert "3 dead letters" in status
    assert f"#{letters[0].position} OrderPlaced order {orders[3].id}" in status


def test_dead_letters_are_retried_and_clear_once_fixed(place, actor, poison):
    orders = varied_history(place, actor, count=4, project=False)
    poison.add(orders[3].id)
    catch_up(order_summary)

    still_failing = catch_up(order_summary)
    assert (still_failing.retried, still_failing.recovered) == (3, 0)
    assert set(DeadLetter.objects.values_list("attempts", flat=True)) == {2}

    poison.clear()  # the bug is fixed and deployed
    fixed = catch_up(order_summary)

    assert (fixed.retried, fixed.recovered) == (3, 3)
    assert not DeadLetter.objects.exists()
    summary = OrderSummary.objects.get(pk=orders[3].id)
    # The whole stream was re-projected, not just its first event.
    assert (summary.status, summary.version) == (OrderStatus.CANCELLED, 3)


def test_a_dead_letter_in_one_order_does_not_touch_another(place, actor, poison):
    first, second = varied_history(place, actor, count=2, project=False)
    poison.add(first.id)
    catch_up(order_summary)
    assert DeadLetter.objects.filter(stream_id=second.id).count() == 0
    assert OrderSummary.objects.get(pk=second.id).status == OrderStatus.APPROVED
