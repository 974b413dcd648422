"""Target 4: catch_up_projections rate; follower lag at a sustained 200 orders/s.

Catch-up starts from every projection emptied (``empty_every_projection``) and is timed
whole, then one projection at a time. Two limits stand beside it. Reading: a raw COPY
of the log (what no catch-up can beat). Writing: a binary COPY of the rows the whole
command wrote (the summaries, the days, the daily ledger: every table each projection
owns) back into the same live tables, emptied the same way, with their primary keys
and indexes present, as any catch-up writes them (a rebuild builds its indexes after;
``bench.rebuild``). Its events/s is the log's events over that COPY's time (every
projection's tables, one after the other, in one session): what a catch-up that did
nothing but write its rows would reach. Catch-up applies the projections' ranges side
by side, so each projection alone is set against its own tables' COPY.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

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


def live_write_limit() -> dict[str, float]:
    """Per projection, seconds of a binary COPY of its tables' rows into those same
    tables, emptied first, keys and indexes in place; call it with the tables full."""
    from django.db import connections, router, transaction

    from bench.rebuild import written_columns
    from orders_read.engine import registry

    seconds: dict[str, float] = {}
    for projection in registry.projections():
        seconds[projection.name] = 0.0
        for model in projection.models:
            connection = connections[router.db_for_write(model)]
            table = connection.ops.quote_name(model._meta.db_table)
            columns = ", ".join(connection.ops.quote_name(name) for name in written_columns(model))
            with connection.cursor() as cursor:
                with cursor.copy(f"COPY {table} ({columns}) TO STDOUT (FORMAT BINARY)") as out:
                    data = b"".join(out)
                cursor.execute(f"TRUNCATE {table}")  # as catch-up found it
            started = time.monotonic()
            with (
                transaction.atomic(using=connection.alias),
                connection.cursor() as cursor,
                cursor.copy(f"COPY {table} ({columns}) FROM STDIN (FORMAT BINARY)") as into,
            ):
                into.write(data)
            seconds[projection.name] += time.monotonic() - started
    return seconds


def empty_every_projection() -> None:
    """Empty every registered projection's tables (rows and ledgers alike), reset its
    checkpoint and drop its dead letters: catch-up then does the whole work again for
    each one. A ledger left full would make its projection count nothing."""
    from django.db import connections, router

    from orders_read.engine import registry
    from orders_read.models import DeadLetter, ProjectionCheckpoint

    for projection in registry.projections():
        for model in projection.models:
            connection = connections[router.db_for_write(model)]
            with connection.cursor() as cursor:
                cursor.execute(f"TRUNCATE {connection.ops.quote_name(model._meta.db_table)}")
    ProjectionCheckpoint.objects.update(transaction_id=0, position=0)
    DeadLetter.objects.all().delete()


def timed_catch_up(*args: str) -> float:
    """Seconds of ``catch_up_projections *args`` from empty projections."""
    empty_every_projection()
    started = time.monotonic()
    subprocess.run(
        [PYTHON, "manage.py", "catch_up_projections", *args],
        check=True,
        cwd=ROOT,
        capture_output=True,
    )
    return time.monotonic() - started


def catch_up_rate() -> tuple[float, int, float, float, dict[str, float], dict[str, float]]:
    """Events/s of ``catch_up_projections`` from empty projections: the whole command,
    then each projection alone; ``projection_status`` with the whole log behind; and
    per projection the events/s of writing the whole command's rows (``live_write_limit``)."""
    from orders_read.engine import registry
    from orders_write.models import Event

    events = Event.objects.count()
    empty_every_projection()
    status_ms, count_ms = status_with_the_log_behind()
    whole = events / timed_catch_up()
    limit = {name: events / seconds for name, seconds in live_write_limit().items()}
    alone = {name: events / timed_catch_up("--projection", name) for name in registry.names()}
    return whole, events, status_ms, count_ms, alone, limit


def status_with_the_log_behind() -> tuple[float, float]:
    """Median ms of ``projection_status`` (what ``/health`` runs) with the checkpoint at
    the start of the log, against the way it once asked: COUNT and MIN over the backlog."""
    from django.db.models import Min

    from orders_read.engine.catchup import get_checkpoint
    from orders_read.engine.status import projection_status
    from orders_write import event_log

    def ms(work: Callable[[], object]) -> float:
        started = time.perf_counter()
        work()
        return (time.perf_counter() - started) * 1000

    def whole_backlog() -> None:
        pending = event_log.after(get_checkpoint("order_summary"), horizon=event_log.MAX_BIGINT)
        pending.count()
        pending.aggregate(oldest=Min("occurred_at"))

    status = statistics.median(ms(lambda: projection_status("order_summary")) for _ in range(5))
    backlog = statistics.median(ms(whole_backlog) for _ in range(3))
    return status, backlog


def follower_lag(seconds: float, logs: Path) -> tuple[float, float, float, int]:
    """(max lag s, p99 lag s, achieved orders/s, errors) at ``RATE`` orders/s, inline off.

    ``WRITERS`` processes of ``bench.load`` each place ``RATE / WRITERS`` orders/s
    through the bus (no HTTP) on an open-loop schedule, while ``catch_up_projections
    --follow`` runs; the lag is sampled from ``projection_status`` every 0.2 s, during
    the load and until the follower has caught up. The processes' stderr goes to ``logs``.
    """
    from django.test import override_settings

    from bench.writes import bus_place, order_inputs
    from orders_read.engine.status import ProjectionStatus, projection_status

    env = dict(os.environ, LOG_LEVEL="WARNING", ORDERS_INLINE_PROJECTION="0")
    processes: list[subprocess.Popen] = []

    def start(name: str, *args: str, stdout: int | None = None) -> subprocess.Popen:
        """Start ``python *args``; its output, but for a piped stdout, goes to a log file."""
        with open(logs / f"{name}.log", "w") as log_file:
            process = subprocess.Popen(
                [PYTHON, *args],
                cwd=ROOT,
                env=env,
                stdout=log_file if stdout is None else stdout,
                stderr=log_file,
                text=True,
            )
        processes.append(process)
        return process

    def lag_until(
        done: Callable[[ProjectionStatus], bool], timeout: float, must: bool = False
    ) -> list[float]:
        """Lag samples until ``done`` or ``timeout`` (an error then if ``must``)."""
        samples, deadline = [], time.monotonic() + timeout
        while True:
            if follower.poll() is not None:
                raise RuntimeError(f"the follower exited; see {logs / 'follower.log'}")
            status = projection_status("order_summary")
            samples.append(status.lag_seconds)
            if done(status):
                return samples
            if time.monotonic() > deadline:
                if must:
                    raise RuntimeError(f"timed out after {timeout:.0f} s; see {logs}")
                return samples
            time.sleep(0.2)

    follower = start("follower", "manage.py", "catch_up_projections", "--follow")
    try:
        # The follower is up and at the head once it has projected a probe order.
        with override_settings(ORDERS_INLINE_PROJECTION=False):
            bus_place(*order_inputs(1, seed=9)[0])
        lag_until(lambda status: status.lag_events == 0, timeout=120, must=True)
        writers = [
            start(
                f"writer-{index}",
                *("-m", "bench.load", "--rate", str(RATE / WRITERS)),
                *("--seconds", str(seconds), "--seed", str(10 + index)),
                stdout=subprocess.PIPE,  # one JSON line, read when it ends
            )
            for index in range(WRITERS)
        ]
        lags = lag_until(
            lambda status: all(writer.poll() is not None for writer in writers),
            timeout=seconds * 2 + 30,
        )
        lags += lag_until(lambda status: status.lag_events == 0, timeout=30)
        results = []
        for index, writer in enumerate(writers):
            out, _ = writer.communicate(timeout=30)
            if writer.returncode != 0:
                raise RuntimeError(f"writer {index} failed; see {logs / f'writer-{index}.log'}")
            results.append(json.loads(out))
    finally:
        for process in reversed(processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
    lags.sort()
    p99 = lags[min(len(lags) - 1, int(len(lags) * 0.99))]
    achieved = sum(result["orders"] for result in results) / max(
        result["seconds"] for result in results
    )
    return max(lags), p99, achieved, sum(result["errors"] for result in results)


def measure(env: Env, seconds: float) -> list[Figure]:
    log("log read ceiling (raw COPY of the event log)")
    ceiling = statistics.median(log_read_ceiling() for _ in range(3))
    log("catch_up_projections from empty projections: all, then each alone")
    rate, events, status_ms, count_ms, alone, limit = catch_up_rate()
    # Both projections' writes, one after the other, as the whole command does them.
    write_limit = events / sum(events / rate for rate in limit.values())
    sustained = max(seconds * 5, 30)
    log(f"follower lag at {RATE} orders/s for {sustained:.0f} s, inline projection off")
    with tempfile.TemporaryDirectory() as logs:
        worst, p99, achieved, errors = follower_lag(sustained, Path(logs))
    return [
        Figure(
            f"catch_up_projections ({events:,} events)",
            rate,
            "events/s",
            ceiling,
            "raw COPY read of the log",
            target=">= 50,000 events/s",
            met=rate >= 50_000,
        ),
        Figure(
            "write limit: binary COPY of every projection's rows into its live tables",
            write_limit,
            "events/s",
            ceiling,
            "raw COPY read of the log",
        ),
        *(
            Figure(
                f"catch_up_projections --projection {name} ({events:,} events)",
                projection_rate,
                "events/s",
                limit[name],
                f"binary COPY of {name}'s rows into its live tables",
            )
            for name, projection_rate in alone.items()
        ),
        Figure(
            f"projection_status (/health) with {events:,} events behind",
            status_ms,
            "ms",
            count_ms,
            "COUNT + MIN over the backlog",
            better="lower",
        ),
        Figure(
            f"follower lag, max ({sustained:.0f} s of bus writers, no HTTP: "
            f"{achieved:,.0f} orders/s, {errors} errors)",
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
