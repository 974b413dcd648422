"""Catch-up restores what the inline path missed, and never loses an event."""

import io

import pytest
from django.core.management import call_command

from orders_read.engine import upsert
from orders_read.engine.catchup import catch_up, get_checkpoint
from orders_read.models import OrderSummary, ProjectionCheckpoint
from orders_read.order_summary.projection import order_summary
from orders_write import event_log
from orders_write.models import Event
from tests.read_model import summary_rows, varied_history

# Real commits: on PostgreSQL, catch-up waits for every open writer transaction,
# and a test wrapped in one would be waiting for itself.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("copy_threshold", [1, 10**9], ids=["copy", "single-statement"])
def test_a_process_that_died_after_commit_is_repaired_exactly(
    place, actor, monkeypatch, caplog, copy_threshold
):
    # Both ways a batch is written on PostgreSQL: through COPY, or one statement.
    monkeypatch.setattr(upsert, "COPY_THRESHOLD", copy_threshold)
    # Reference: the same history projected inline.
    varied_history(place, actor, project=True)
    expected = summary_rows()
    assert len(expected) == 12

    # The same rows lost as if every process died right after COMMIT.
    OrderSummary.objects.all().delete()
    ProjectionCheckpoint.objects.all().delete()
    call_command("catch_up_projections", stdout=io.StringIO())

    assert summary_rows() == expected
    assert "one by one" not in caplog.text  # the batch path itself worked


def test_rows_never_projected_inline_are_caught_up(place, actor):
    varied_history(place, actor, count=8, project=False)
    assert OrderSummary.objects.count() == 0

    result = catch_up(order_summary, batch_size=5)

    assert result.events == Event.objects.count()
    assert OrderSummary.objects.count() == 8
    head = Event.objects.order_by("-position").first()
    assert get_checkpoint("order_summary") == event_log.position_of(head)
    assert result.checkpoint == event_log.position_of(head)


def test_a_second_pass_reads_nothing_new(place, actor):
    varied_history(place, actor, count=4, project=False)
    catch_up(order_summary)
    before = summary_rows()

    again = catch_up(order_summary)

    assert again.events == 0
    assert summary_rows() == before


def test_the_checkpoint_moves_with_the_rows(place, actor, monkeypatch):
    """A batch that fails to commit leaves the checkpoint where the rows are."""
    varied_history(place, actor, count=4, project=False)
    catch_up(order_summary, batch_size=3)
    checkpoint = get_checkpoint("order_summary")
    rows = summary_rows()

    later = varied_history(place, actor, count=2, project=False)

    def crash(*args, **kwargs):
        raise KeyboardInterrupt  # not an Exception: no dead letter, the batch aborts

    monkeypatch.setattr(order_summary, "write", crash)
    with pytest.raises(KeyboardInterrupt):
        catch_up(order_summary)
    assert get_checkpoint("order_summary") == checkpoint
    assert summary_rows() == rows

    monkeypatch.undo()
    catch_up(order_summary)
    assert {order.id for order in later} <= set(summary_rows())


def test_catch_up_command_output(place, actor, capsys):
    varied_history(place, actor, count=2, project=False)
    call_command("catch_up_projections")
    out = capsys.readouterr().out
    assert f"{Event.objects.count()} events read" in out
    assert "0 dead-lettered" in out
