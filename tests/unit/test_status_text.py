"""How projection status reads for people (``projection_status``) and for ``/health``."""

import pytest

from orders_read.engine.status import LAG_COUNT_LIMIT, ProjectionStatus
from orders_write.event_log import MAX_BIGINT, LogPosition


def status(**fields):
    defaults = {
        "name": "order_summary",
        "checkpoint": LogPosition(7, 41),
        "head_position": 50,
        "lag_events": 9,
        "lag_seconds": 1.23456,
    }
    return ProjectionStatus(**{**defaults, **fields})


@pytest.mark.parametrize(
    ("position", "text"),
    [
        (LogPosition(7, 41), "(transaction 7, position 41)"),
        (LogPosition(7, MAX_BIGINT), "(transaction 7, position end)"),
    ],
)
def test_a_log_position_reads_as_transaction_and_position(position, text):
    assert str(position) == text


def test_the_lag_is_the_count_or_the_limit_plus_when_the_count_stopped():
    assert status(lag_events=9).lag_events_text == "9"
    capped = status(lag_events=LAG_COUNT_LIMIT, lag_events_capped=True)
    assert capped.lag_events_text == f"{LAG_COUNT_LIMIT}+"


def test_the_health_details_of_a_projection():
    assert status(dead_letter_count=2, lag_events_capped=True).as_dict() == {
        "checkpoint": {"transaction_id": 7, "position": 41},
        "head_position": 50,
        "lag_events": 9,
        "lag_events_capped": True,
        "lag_seconds": 1.235,
        "dead_letters": 2,
    }
