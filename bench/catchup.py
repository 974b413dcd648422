"""Target 4: catch_up_projections rate; follower lag at a sustained 200 orders/s."""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import time
from collections.abc import Callable

from bench.common import (
    PYTHON,
    ROOT,
    Env,
    Figure,
    environment,
    log,
    parser,
    print_table,
)

RATE = 200
WRITERS = 2


def log_read_ceiling() -> float:
    """Events/s of reading the whole log with a raw COPY (what no catch-up can beat)."""
    from django.db import connection

    started = time.monotonic()
    count = 0
    with (
        connection.cursor() as cursor,
        cursor.copy(
            "COPY (SELECT position, transaction_id, event_id, stream_id, version, type, data, "
            "occurred_at FROM orders_write_event) TO STDOUT"
        ) as out,
    ):
        for _row in out.rows():
            count += 1
    return count / (time.monotonic() - started)


def catch_up_rate() -> tuple[float, int, float, float]:
    """Empty the read model and its checkpoint, time ``projection_status`` with the whole
    log behind, then time ``catch_up_projections``."""
    from django.db import connection

    from orders_write.models import Event

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE orders_read_ordersummary")
        cursor.execute(
            "UPDATE orders_read_projectioncheckpoint SET transaction_id = 0, position = 0"
        )
    events = Event.objects.count()
    status_ms, count_ms = status_with_the_log_behind()
    started = time.monotonic()
    subprocess.run(
        [PYTHON, "manage.py", "catch_up_projections"], check=True, cwd=ROOT, capture_output=True
    )
    return events / (time.monotonic() - started), events, status_ms, count_ms


def status_with_the_log_behind() -> tuple[float, float]:
    """Median ms of ``projection_status`` (what ``/health`` runs) with the checkpoint at
    the start of the log, and of counting that whole backlog, as the lag once did."""
    from orders_read.catchup import get_checkpoint
    from orders_read.status import projection_status
    from orders_write import event_log

    def ms(work: Callable[[], object]) -> float:
        started = time.perf_counter()
        work()
        return (time.perf_counter() - started) * 1000

    pending = event_log.after(get_checkpoint("order_summary"), horizon=event_log.MAX_BIGINT)
    status = statistics.median(ms(lambda: projection_status("order_summary")) for _ in range(5))
    count = statistics.median(ms(pending.count) for _ in range(3))
    return status, count


def follower_lag(seconds: float) -> tuple[float, float, float, int]:
    """(max lag s, p99 lag s, achieved orders/s, errors) at ``RATE`` orders/s, inline off.

    ``WRITERS`` processes of ``bench.load`` each place ``RATE / WRITERS`` orders/s
    through the bus on an open-loop schedule, while ``catch_up_projections --follow``
    runs; the lag is sampled from ``projection_status`` every 0.2 s.
    """
    from orders_read.status import projection_status

    env = dict(os.environ, LOG_LEVEL="WARNING", ORDERS_INLINE_PROJECTION="0")
    follower = subprocess.Popen(
        [PYTHON, "manage.py", "catch_up_projections", "--follow"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    lags: list[float] = []
    try:
        # Start from a follower at the head, so the lag measured is the load's.
        deadline = time.monotonic() + 120
        while projection_status("order_summary").lag_events and time.monotonic() < deadline:
            time.sleep(0.1)
        writers = [
            subprocess.Popen(
                [
                    *(PYTHON, "-m", "bench.load", "--rate", str(RATE / WRITERS)),
                    *("--seconds", str(seconds), "--seed", str(10 + index)),
                ],
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                text=True,
            )
            for index in range(WRITERS)
        ]
        while any(writer.poll() is None for writer in writers):
            lags.append(projection_status("order_summary").lag_seconds)
            time.sleep(0.2)
        results = [json.loads(writer.stdout.read()) for writer in writers]
        deadline = time.monotonic() + 30
        while projection_status("order_summary").lag_events and time.monotonic() < deadline:
            lags.append(projection_status("order_summary").lag_seconds)
            time.sleep(0.1)
    finally:
        follower.send_signal(signal.SIGTERM)
        follower.wait(timeout=30)
    lags.sort()
    p99 = lags[min(len(lags) - 1, int(len(lags) * 0.99))]
    achieved = sum(result["orders"] for result in results) / max(
        result["seconds"] for result in results
    )
    return max(lags), p99, achieved, sum(result["errors"] for result in results)


def measure(env: Env, seconds: float) -> list[Figure]:
    log("log read ceiling (raw COPY of the event log)")
    ceiling = statistics.median(log_read_ceiling() for _ in range(3))
    log("catch_up_projections from an empty read model")
    rate, events, status_ms, count_ms = catch_up_rate()
    log(f"follower lag at {RATE} orders/s, inline projection off")
    worst, p99, achieved, errors = follower_lag(max(seconds * 2, 10))
    return [
        Figure(
            f"catch_up_projections ({events:,} events)",
            rate,
            "events/s",
            ceiling,
            "raw COPY read of the log",
            target=">= 20,000 events/s",
            met=rate >= 20_000,
        ),
        Figure(
            f"projection_status (/health) with {events:,} events behind",
            status_ms,
            "ms",
            count_ms,
            "counting the whole backlog",
            better="lower",
        ),
        Figure(
            f"follower lag, max (at {achieved:,.0f} orders/s, {errors} errors)",
            worst,
            "s",
            1.0,
            "target",
            better="lower",
            target="< 1 s",
            met=worst < 1.0 and errors == 0 and achieved >= RATE * 0.95,
        ),
        Figure("follower lag, p99", p99, "s", 1.0, "target", better="lower", target="< 1 s"),
    ]


def main() -> None:
    args = parser(__doc__).parse_args()
    with environment(args.orders) as env:
        print_table(measure(env, args.seconds), f"Catch-up at {args.orders:,} orders")


if __name__ == "__main__":
    main()
