"""Target 2: rebuild_projections at N orders: wall time, peak RSS, rate against raw COPY.

The ceiling is what the rebuild writes, written as fast as PostgreSQL takes rows: a
binary COPY of exactly the rows of every table the projections own (the summaries,
the days, the daily ledger) into new tables, primary keys and indexes built after.
The rebuild's rate is the same rows over its own time, in total and per projection
(each projection's time as its rebuild measured it). The ceiling is one session; the
rebuild runs the projections side by side, one session each (``rebuild_each``), folds
``order_summary`` in two ranges of orders side by side and builds the indexes two at a
time, so the per-projection lines say how close each fold comes to writing its rows,
and the overall line what the rebuild as a whole makes of the server's cores.
Both build keys and indexes with the same settings: ``maintenance_work_mem`` 512 MB
(``SET LOCAL``) and the server's parallel maintenance workers.
"""

from __future__ import annotations

import io
import json
import subprocess
import time
from typing import TYPE_CHECKING

from bench.common import PYTHON, ROOT, Env, Figure, environment, log, parser, print_table

if TYPE_CHECKING:
    from django.db.models import Model

_RUN = """
import json, sys, time, django
django.setup()
from django.core.management import call_command
from orders_read.engine import rebuild as engine
# Each projection's own time, as the rebuild measured it (the command prints tenths).
took, rebuild = {}, engine.rebuild
def timed(projection, **options):
    result = rebuild(projection, **options)
    took[projection.name] = result.seconds
    return result
engine.rebuild = timed
started = time.monotonic()
if sys.argv[1] == "rebuild":
    call_command("rebuild_projections", stdout=open("/dev/null", "w"))
# VmHWM: this process's peak RSS (ru_maxrss would carry the parent's across exec).
hwm = next(l for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(json.dumps({
    "seconds": time.monotonic() - started,
    "rss_mb": int(hwm.split()[1]) / 1024,
    "took": took,
}))
"""


def _child(what: str) -> dict:
    out = subprocess.run(
        [PYTHON, "-c", _RUN, what], check=True, capture_output=True, text=True, cwd=ROOT
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def written_columns(model: type[Model]) -> list[str]:
    """The columns a rebuild writes: all but those the database computes."""
    from django.db import models

    return [
        field.column
        for field in model._meta.concrete_fields
        if not isinstance(field, models.GeneratedField)
    ]


def copy_ceiling(model: type[Model]) -> tuple[float, int]:
    """Seconds and rows of a raw binary COPY of ``model``'s rows into a new table, keys after."""
    from django.db import connection, transaction

    table = model._meta.db_table
    columns = ", ".join(connection.ops.quote_name(name) for name in written_columns(model))
    pk = connection.ops.quote_name(model._meta.pk.column)
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
        cursor.execute(f"ALTER TABLE bench_copy ADD PRIMARY KEY ({pk})")
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


def ceilings() -> dict[str, tuple[float, int]]:
    """Per projection: seconds and rows of the raw COPY of every table it owns."""
    from orders_read.engine import registry

    found = {}
    for name in registry.names():
        copied = [copy_ceiling(model) for model in registry.get(name).models]
        found[name] = (sum(s for s, _ in copied), sum(rows for _, rows in copied))
    return found


def measure(env: Env, seconds: float = 0) -> list[Figure]:
    from orders_read.models import OrderSummary
    from orders_write.models import Event

    events, summaries = Event.objects.count(), OrderSummary.objects.count()
    log("raw COPY ceiling (every table the projections own)")
    ceiling = ceilings()
    log(f"rebuild_projections ({events:,} events)")
    rebuilt = _child("rebuild")
    bare = _child("bare")
    assert OrderSummary.objects.count() == summaries
    took = rebuilt["took"]
    rows = sum(written for _, written in ceiling.values())
    copy_seconds = sum(s for s, _ in ceiling.values())
    figures = [
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
            f"rebuild rate vs raw COPY ceiling ({rows:,} rows, every table)",
            rows / rebuilt["seconds"],
            "rows/s",
            rows / copy_seconds,
            "binary COPY + keys + indexes",
            target=">= 0.75x",
            met=rows / rebuilt["seconds"] >= 0.75 * rows / copy_seconds,
        ),
    ]
    for name, (copied_seconds, written) in ceiling.items():
        if took.get(name):
            figures.append(
                Figure(
                    f"  {name} rebuild rate vs its COPY ({written:,} rows)",
                    written / took[name],
                    "rows/s",
                    written / copied_seconds,
                    "binary COPY + keys + indexes",
                    target="(fraction)",
                )
            )
    figures.append(
        Figure(
            "rebuild peak RSS",
            rebuilt["rss_mb"],
            "MB",
            bare["rss_mb"],
            "bare Django process",
            better="lower",
            target="flat",
        )
    )
    return figures


def main() -> None:
    args = parser(__doc__).parse_args()
    with environment(args.orders) as env:
        print_table(measure(env), f"Rebuild at {args.orders:,} orders")


if __name__ == "__main__":
    main()
