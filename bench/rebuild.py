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

The machine is shared and either measurement swings between minutes, so the ceiling
and the rebuild take ``ROUNDS`` turns each, which goes first alternating
(``turn_about``); every time and rate is the median of its rounds (peak RSS: the
highest).

Both are CPU-bound here, so each round also reads the CPU seconds the machine's cores
spent busy (``busy_cpu_seconds``), and the table says what the rebuild would take with
every core busy throughout, its CPU over the cores: the best share of the ceiling its
work allows on this machine, however it were scheduled.
"""

from __future__ import annotations

import io
import json
import os
import statistics
import subprocess
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bench.common import (
    PYTHON,
    ROOT,
    Env,
    Figure,
    busy_cpu_seconds,
    environment,
    log,
    parser,
    print_table,
)

if TYPE_CHECKING:
    from django.db.models import Model

# Rounds of the ceiling and of the rebuild, turn about (a rebuild at 1M is ~10 s).
ROUNDS = 3

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
from bench.common import busy_cpu_seconds
started, busy = time.monotonic(), busy_cpu_seconds()
if sys.argv[1] == "rebuild":
    call_command("rebuild_projections", stdout=open("/dev/null", "w"))
# VmHWM: this process's peak RSS (ru_maxrss would carry the parent's across exec).
hwm = next(l for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(json.dumps({
    "seconds": time.monotonic() - started,
    "cpu": busy_cpu_seconds() - busy,
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


@dataclass(frozen=True)
class TableDump:
    """A table's rows as binary COPY data, and what a copy of the table needs."""

    model: type[Model]
    columns: str
    # The table's CREATE INDEX statements, its primary key's aside.
    indexes: list[str]
    data: bytes


def dump(model: type[Model]) -> TableDump:
    """``model``'s rows as a binary COPY (the columns a rebuild writes), and its indexes."""
    from django.db import connection

    table = model._meta.db_table
    columns = ", ".join(connection.ops.quote_name(name) for name in written_columns(model))
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
    return TableDump(model, columns, indexes, buffer.getvalue())


def copy_ceiling(dumped: TableDump) -> tuple[float, int]:
    """Seconds and rows of a raw binary COPY of ``dumped`` into a new table, keys after."""
    from django.db import connection, transaction

    table = dumped.model._meta.db_table
    pk = connection.ops.quote_name(dumped.model._meta.pk.column)
    started = time.monotonic()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TABLE bench_copy (LIKE {table} INCLUDING DEFAULTS INCLUDING GENERATED)"
        )
        with cursor.copy(f"COPY bench_copy ({dumped.columns}) FROM STDIN (FORMAT BINARY)") as into:
            into.write(dumped.data)
        rows = cursor.rowcount
        cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")
        cursor.execute(f"ALTER TABLE bench_copy ADD PRIMARY KEY ({pk})")
        for number, definition in enumerate(dumped.indexes):
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


def dumps() -> dict[str, list[TableDump]]:
    """Per projection: the rows of every table it owns (``dump``)."""
    from orders_read.engine import registry

    return {name: [dump(model) for model in registry.get(name).models] for name in registry.names()}


def ceilings(dumped: dict[str, list[TableDump]]) -> dict[str, tuple[float, int]]:
    """Per projection: seconds and rows of the raw COPY of every table it owns."""
    found = {}
    for name, tables in dumped.items():
        copied = [copy_ceiling(table) for table in tables]
        found[name] = (sum(s for s, _ in copied), sum(rows for _, rows in copied))
    return found


@dataclass
class Rounds:
    """What each of ``ROUNDS`` rounds measured: the ceilings and the rebuild's child."""

    ceilings: list[dict[str, tuple[float, int]]] = field(default_factory=list)
    rebuilds: list[dict] = field(default_factory=list)
    # The machine's busy CPU seconds during each round's ceiling and rebuild.
    ceiling_cpu: list[float] = field(default_factory=list)
    rebuild_cpu: list[float] = field(default_factory=list)

    def ceiling_seconds(self, name: str | None = None) -> float:
        """The median over rounds of one projection's COPY seconds (None: all of them)."""
        names = [name] if name else list(self.ceilings[0])
        return statistics.median(sum(found[n][0] for n in names) for found in self.ceilings)

    def rebuild_seconds(self, name: str | None = None) -> float:
        """The median over rounds of the rebuild's wall (``name``: that projection's own time)."""
        return statistics.median(
            rebuilt["took"][name] if name else rebuilt["seconds"] for rebuilt in self.rebuilds
        )


def turn_about() -> Rounds:
    """The ceiling and the rebuild, ``ROUNDS`` times each, turn about.

    Both swing between minutes on a shared machine, so each is measured several times
    and which goes first alternates; each figure is a median. The tables' rows are
    dumped once: every rebuild writes the same rows.
    """
    from orders_read.models import OrderSummary

    summaries = OrderSummary.objects.count()
    dumped = dumps()
    rounds = Rounds()

    def ceiling() -> None:
        before = busy_cpu_seconds()
        rounds.ceilings.append(ceilings(dumped))
        rounds.ceiling_cpu.append(busy_cpu_seconds() - before)

    def rebuild() -> None:
        rounds.rebuilds.append(_child("rebuild"))
        rounds.rebuild_cpu.append(rounds.rebuilds[-1]["cpu"])

    for turn in range(ROUNDS):
        for step in (ceiling, rebuild) if turn % 2 == 0 else (rebuild, ceiling):
            step()
        assert OrderSummary.objects.count() == summaries
        copied = sum(s for s, _ in rounds.ceilings[-1].values())
        log(
            f"round {turn + 1}: ceiling {copied:.2f} s ({rounds.ceiling_cpu[-1]:.1f} CPU-s), "
            f"rebuild {rounds.rebuilds[-1]['seconds']:.2f} s "
            f"({rounds.rebuild_cpu[-1]:.1f} CPU-s)"
        )
    return rounds


def measure(env: Env, seconds: float = 0) -> list[Figure]:
    from orders_write.models import Event

    events = Event.objects.count()
    log(f"raw COPY ceiling and rebuild_projections ({events:,} events), {ROUNDS} rounds each")
    rounds = turn_about()
    bare = _child("bare")
    median = f"median of {ROUNDS}"
    wall = rounds.rebuild_seconds()
    rows = sum(written for _, written in rounds.ceilings[0].values())
    copy_seconds = rounds.ceiling_seconds()
    peak = max(rebuilt["rss_mb"] for rebuilt in rounds.rebuilds)
    figures = [
        Figure(
            f"rebuild_projections wall ({events:,} events, {median})",
            wall,
            "s",
            30.0,
            "target",
            better="lower",
            target="<= 30 s",
            met=wall <= 30,
        ),
        Figure(
            f"rebuild rate vs raw COPY ceiling ({rows:,} rows, every table, {median})",
            rows / wall,
            "rows/s",
            rows / copy_seconds,
            f"binary COPY + keys + indexes, {median}",
            target=">= 0.75x",
            met=rows / wall >= 0.75 * rows / copy_seconds,
        ),
    ]
    cores = os.cpu_count() or 1
    rebuild_cpu = statistics.median(rounds.rebuild_cpu)
    figures += [
        Figure(
            f"rebuild CPU, every core of the machine ({median})",
            rebuild_cpu,
            "CPU-s",
            statistics.median(rounds.ceiling_cpu),
            f"the ceiling's, {median}",
            better="lower",
        ),
        Figure(
            f"rebuild wall with all {cores} cores busy throughout (its CPU over the cores)",
            rebuild_cpu / cores,
            "s",
            copy_seconds,
            f"the ceiling's wall, {median}",
            better="lower",
            target="(its best share)",
        ),
    ]
    for name, (_, written) in rounds.ceilings[0].items():
        if all(name in rebuilt["took"] for rebuilt in rounds.rebuilds):
            figures.append(
                Figure(
                    f"  {name} rebuild rate vs its COPY ({written:,} rows, {median})",
                    written / rounds.rebuild_seconds(name),
                    "rows/s",
                    written / rounds.ceiling_seconds(name),
                    f"binary COPY + keys + indexes, {median}",
                    target="(fraction)",
                )
            )
    figures.append(
        Figure(
            f"rebuild peak RSS (highest of {ROUNDS})",
            peak,
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
