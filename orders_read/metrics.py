"""The projections' lag and dead letters as metrics, read from the database at scrape time."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from django.db import DatabaseError
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from orders_read.engine.status import all_statuses

logger = logging.getLogger(__name__)


class ProjectionCollector:
    """``orders_projection_lag_events``, ``_lag_seconds`` and ``_dead_letters``, per projection.

    Read at each scrape (``/health``'s bounded status), so every worker answers alike
    and nothing is summed across processes.
    """

    def collect(self) -> Iterator[Metric]:
        lag_events = GaugeMetricFamily(
            "orders_projection_lag_events",
            "Committed events the projection does not reflect yet (a lower bound when "
            "more than the status reads are behind).",
            labels=["projection"],
        )
        lag_seconds = GaugeMetricFamily(
            "orders_projection_lag_seconds",
            "Age of the oldest committed event the projection does not reflect yet.",
            labels=["projection"],
        )
        dead_letters = GaugeMetricFamily(
            "orders_projection_dead_letters",
            "Events the projection could not apply (retried on every catch-up pass).",
            labels=["projection"],
        )
        try:
            statuses = all_statuses()
        except DatabaseError:
            # The other metrics still scrape; the lag's absence is what alerts then.
            logger.exception("Metrics: cannot read the projections' status")
            return
        for status in statuses:
            lag_events.add_metric([status.name], status.lag_events)
            lag_seconds.add_metric([status.name], status.lag_seconds)
            dead_letters.add_metric([status.name], status.dead_letter_count)
        yield from (lag_events, lag_seconds, dead_letters)
