"""Target 2: rebuild_projections at N orders: wall time, peak RSS, rate against raw COPY."""

from __future__ import annotations

import io
import json
import subprocess
import time

from bench.common import PYTHON, ROOT, Env, Figure, environment, log, parser, print_table

_RUN = """
import json, sys, time, django
django.setup()
from django.core.management import call_command
started = time.monotonic()
if sys.argv[1] == "rebuild":
    call_command("rebuild_projections", stdout=open("/dev/null", "w"))
# VmHWM: this process's peak RSS (ru_maxrss would carry the parent's across exec).
hwm = next(l for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(json.dumps({"seconds": time.monotonic() - started, "rss_mb": int(hwm.split()[1]) / 1024}))
"""


def _child(what: str) -> dict:
    out = subprocess.run(
        [PYTHON, "-c", _RUN, what], check=True, capture_output=True, text=True, cwd=ROOT
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def copy_ceiling() -> tuple[float, int]:
    """Rows/s of a raw binary COPY of the read model's rows into a new table, indexes after."""
    from django.db import connection, transaction

    from orders_read.models import OrderSummary
    from orders_read.order_summary.fold import COLUMNS

    table = OrderSummary._meta.db_table
    columns = ", ".join(COLUMNS)
    buffer = io.BytesIO()
    with connection.cursor() as cursor:
        with cursor.copy(f"COPY (SELECT {columns} FROM {table}) TO STDOUT (FORMAT BINARY)") as out:
            for chunk in out:
                buffer.write(chunk)
        cursor.execute(
            "SELECT indexdef FROM pg_indexes WHERE tablename = %s AND indexname <> %s",
            [table, f"{table}_pkey"],
        )
        indexes = [row[0] for row in cursor.fetchall()]
    data = buffer.getvalue()
    started = time.monotonic()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TABLE bench_copy (LIKE {table} INCLUDING DEFAULTS INCLUDING GENERATED)"
        )
        with cursor.copy(f"COPY bench_copy ({columns}) FROM STDIN (FORMAT BINARY)") as into:
            into.write(data)
        rows = cursor.rowcount
        cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")
        cursor.execute("ALTER TABLE bench_copy ADD PRIMARY KEY (order_id)")
        for number, definition in enumerate(indexes):
            name = definition.split(" INDEX ", 1)[1].split(" ON ", 1)[0]
            cursor.execute(
                definition.replace(f" {name} ON", f" bench_copy_{number} ON").replace(
                    f"public.{table} ", "public.bench_copy "
                )
            )
    seconds = time.monotonic() - started
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE bench_copy")
    return seconds, rows


def measure(env: Env, seconds: float = 0) -> list[Figure]:
    from orders_read.models import OrderSummary
    from orders_write.models import Event

    events, rows = Event.objects.count(), OrderSummary.objects.count()
    log(f"raw COPY ceiling ({rows:,} rows)")
    copy_seconds, copied = copy_ceiling()
    log(f"rebuild_projections ({events:,} events)")
    rebuilt = _child("rebuild")
    bare = _child("bare")
    assert OrderSummary.objects.count() == rows
    return [
        Figure(
            f"rebuild_projections wall ({events:,} events)",
            rebuilt["seconds"],
            "s",
            30.0,
            "target",
            better="lower",
            target="<= 30 s",
            met=rebuilt["seconds"] <= 30,
        ),
        Figure(
            "rebuild rate vs raw COPY ceiling",
            rows / rebuilt["seconds"],
            "rows/s",
            copied / copy_seconds,
            "binary COPY + indexes",
            target="(fraction)",
        ),
        Figure(
            "rebuild peak RSS",
            rebuilt["rss_mb"],
            "MB",
            bare["rss_mb"],
            "bare Django process",
            better="lower",
            target="flat",
        ),
    ]


def main() -> None:
    args = parser(__doc__).parse_args()
    with environment(args.orders) as env:
        print_table(measure(env), f"Rebuild at {args.orders:,} orders")


if __name__ == "__main__":
    main()
