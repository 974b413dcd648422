"""The read side's part of ``/health``: each projection's checkpoint, lag and dead letters.

Registered with ``common.health`` in ``OrdersReadConfig.ready()``: the health view
lives in ``common``, which imports no app.
"""

from __future__ import annotations

from django.conf import settings
from rest_framework import serializers

from common.health import HealthDetail
from orders_read.engine.status import LAG_COUNT_LIMIT, all_statuses


class CheckpointSerializer(serializers.Serializer):
    transaction_id = serializers.IntegerField()
    position = serializers.IntegerField()


class ProjectionLagSerializer(serializers.Serializer):
    checkpoint = CheckpointSerializer()
    head_position = serializers.IntegerField()
    lag_events = serializers.IntegerField(
        help_text="Committed events the projection does not reflect yet, among the first "
        f"{LAG_COUNT_LIMIT:,} after the checkpoint."
    )
    lag_events_capped = serializers.BooleanField(
        help_text="True when more events follow the ones counted: the lag is at least lag_events."
    )
    lag_seconds = serializers.FloatField()
    dead_letters = serializers.IntegerField()


def projections_field() -> serializers.Field:
    return serializers.DictField(
        child=ProjectionLagSerializer(),
        required=False,
        help_text=f"With `{settings.HEALTH_DETAILS_PERMISSION}`: each projection's catch-up "
        "lag behind the event log.",
    )


def projections_lag() -> dict[str, dict[str, object]]:
    """Every registered projection's status, by name."""
    return {status.name: status.as_dict() for status in all_statuses()}


PROJECTIONS = HealthDetail("projections", field=projections_field, read=projections_lag)
