"""Scaling out: replica apply lag, dashboard reads from a replica, the read database's outage.

``make bench-topology`` (``python -m bench.topology --orders 20000 --seconds 6``) starts
the split topology (``.ci/pg start-split``: a write cluster, a read cluster and a
streaming replica of it) and, beside it, one single PostgreSQL; seeds both; then, with
open-loop writers asking for 200 orders/s (``bench.load``, through the command bus with
the inline projection on; the rate they reached is printed beside each figure):

- the replica's apply lag, p50 and p99, while the writers run alone: PostgreSQL's own
  ``pg_stat_replication.replay_lag`` sampled every 100 ms on the read primary;
- dashboard requests/s (wrk on gunicorn) served from the replica, beside the same read
  on the single database under the same writers;
- ``POST /orders`` over HTTP for 20 s, as fast as the server answers (wrk, 8 connections),
  with the read cluster stopped from 5 s to 15 s: the non-2xx answers (target 0), and
  the time from its return until a running follower (``catch_up_projections --follow``)
  has restored every order placed until then.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator

import psycopg

from bench.common import (
    PYTHON,
    ROOT,
    Env,
    Figure,
    WrkResult,
    free_port,
    gunicorn,
    log,
    machine,
    manage,
    parser,
    print_table,
    setup_django,
    wrk,
)

RATE = 200
# The readers beside the writers run this much nicer (``nice -n``): the writers first.
READERS_NICE = 10
WRITERS = 2
OUTAGE_START, OUTAGE_END, OUTAGE_RUN = 5.0, 15.0, 20.0
PG = str(ROOT / ".ci" / "pg")


def _pg(*args: str) -> dict[str, str]:
    environ = dict(os.environ, PGPORT_CI=str(free_port()))
    out = subprocess.run([PG, *args], env=environ, check=True, capture_output=True, text=True)
    return dict(line.split("=", 1) for line in out.stdout.split())


def _create_database(url: str) -> None:
    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    subprocess.run(["psql", "-q", admin_url, "-c", "CREATE DATABASE orders"], check=True)


@contextlib.contextmanager
def clusters() -> Iterator[tuple[dict[str, str], dict[str, str], str]]:
    """(split topology's variables, single database's variables, the split's directory)."""
    split = _pg("start-split")
    single = _pg("start")
    try:
        _create_database(split["DATABASE_URL"])
        _create_database(split["READ_DATABASE_URL"])  # the replica gets it by replication
        _create_database(single["DATABASE_URL"])
        yield (
            {key: split[key] for key in ("DATABASE_URL", "READ_DATABASE_URL", "READ_REPLICA_URLS")},
            {"DATABASE_URL": single["DATABASE_URL"]},
            split["PGDATA_DIR"],
        )
    finally:
        subprocess.run([PG, "stop", split["PGDATA_DIR"]], check=False)
        subprocess.run([PG, "stop", single["PGDATA_DIR"]], check=False)


def prepared(variables: dict[str, str], orders: int) -> tuple[Env, dict[str, str]]:
    """Migrate every database, seed, and make the admin's token; (Env, process environment)."""
    environ = dict(os.environ, **variables, DJANGO_SETTINGS_MODULE="bench.settings")
    manage("migrate", "--no-input", env=environ)
    if "READ_DATABASE_URL" in variables:
        manage("migrate", "--no-input", "--database", "read", env=environ)
    manage("seed_demo", "--orders", str(orders), env=environ)
    out = manage("drf_create_token", "admin", env=environ).stdout
    env = Env(database_url=variables["DATABASE_URL"], orders=orders, token=out.split()[2])
    return env, environ


@contextlib.contextmanager
def writers(environ: dict[str, str], seconds: float) -> Iterator[list[dict]]:
    """``WRITERS`` processes placing ``RATE`` orders/s between them; yields their results."""
    processes = [
        subprocess.Popen(
            [
                PYTHON,
                "-m",
                "bench.load",
                "--rate",
                str(RATE / WRITERS),
                "--seconds",
                str(seconds),
                "--seed",
                str(seed),
            ],
            env=environ,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        for seed in range(1, WRITERS + 1)
    ]
    results: list[dict] = []
    try:
        yield results
    finally:
        for process in processes:
            out, _ = process.communicate(timeout=seconds + 120)
            results.append(json.loads(out.strip().splitlines()[-1]))


def replay_lags(read_url: str, stop: threading.Event) -> list[float]:
    """``replay_lag`` of the read primary's standby every 100 ms until ``stop`` (seconds)."""
    samples: list[float] = []
    with psycopg.connect(read_url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as admin:
        while not stop.wait(0.1):
            row = admin.execute(
                "SELECT COALESCE(EXTRACT(EPOCH FROM replay_lag), 0) FROM pg_stat_replication"
            ).fetchone()
            if row is not None:
                samples.append(float(row[0]))
    return samples


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


def placed_rate(placed: list[dict]) -> float:
    """Orders/s the writers placed between them (each ran for about the same time)."""
    return sum(result["orders"] / result["seconds"] for result in placed)


def lag_under_writers(environ: dict[str, str], seconds: float) -> tuple[list[float], float]:
    """The replica's replay lag samples while the writers run alone; orders/s they placed.

    Nothing else runs meanwhile, so the writers reach their rate on this machine and
    the lag is the replica's, not a starved writer's.
    """
    stop = threading.Event()
    lags: list[float] = []
    read_url = environ["READ_DATABASE_URL"]
    sampler = threading.Thread(target=lambda: lags.extend(replay_lags(read_url, stop)))
    sampler.start()
    try:
        with writers(environ, seconds) as placed:
            pass
    finally:
        stop.set()
        sampler.join()
    rate = placed_rate(placed)
    log(f"writers alone: {placed} ({rate:,.0f} orders/s); {len(lags)} lag samples")
    return lags, rate


def reads_under_writers(
    env: Env, environ: dict[str, str], extra: dict[str, str], seconds: float
) -> tuple[float, float]:
    """Dashboard requests/s while the writers run; orders/s the writers placed meanwhile.

    wrk takes every cycle it is given, and on a machine this small the writers would
    fall short of their rate beside it. So the readers (gunicorn and wrk) run at a
    lower CPU priority (``READERS_NICE``): the writers keep their rate first and the
    dashboard is served with the cycles left, the same way in both topologies; the rate
    the writers reached is printed beside each figure.
    """
    with (
        gunicorn(env, extra_env=extra, threads=4, nice=READERS_NICE) as base,
        writers(environ, seconds + 2) as placed,
    ):
        time.sleep(1)  # the writers running
        served = wrk(
            f"{base}/orders/dashboard", env.token, seconds, nice=READERS_NICE
        ).requests_per_second
    rate = placed_rate(placed)
    log(f"writers beside wrk: {placed} ({rate:,.0f} orders/s); {served:,.0f} req/s")
    return served, rate


def lag_and_reads(
    split: tuple[Env, dict[str, str]], single: tuple[Env, dict[str, str]], seconds: float
) -> list[Figure]:
    """Replica apply lag under the writers alone; dashboard requests/s, each topology under
    the same writers."""
    env, environ = split
    extra = {key: environ[key] for key in ("READ_DATABASE_URL", "READ_REPLICA_URLS")}
    log(f"split topology: writers at {RATE} orders/s alone, the replica's replay lag")
    lags, alone = lag_under_writers(environ, max(seconds, 10.0))
    log(f"split topology: writers at {RATE} orders/s, wrk on the dashboard (the replica)")
    from_replica, beside_replica = reads_under_writers(env, environ, extra, seconds)
    log(f"single database: writers at {RATE} orders/s, wrk on the dashboard")
    from_single, beside_single = reads_under_writers(*single, {}, seconds)
    placed = f"writers placed {alone:,.0f} orders/s"
    return [
        Figure(f"replica apply lag p50 ({placed})", percentile(lags, 0.5) * 1000, "ms"),
        Figure(f"replica apply lag p99 ({placed})", percentile(lags, 0.99) * 1000, "ms"),
        Figure(
            f"dashboard req/s from the replica (writers asked {RATE}/s, placed "
            f"{beside_replica:,.0f}/s; beside one database: {beside_single:,.0f}/s)",
            from_replica,
            "req/s",
            from_single,
            "one database, same writers",
        ),
    ]


def read_outage(split: tuple[Env, dict[str, str]], split_dir: str) -> list[Figure]:
    """POST /orders while the read cluster is stopped for 10 s; catch-up after it returns.

    wrk sends as many orders as the server takes (8 connections, closed loop) for
    ``OUTAGE_RUN`` s, the read cluster down from ``OUTAGE_START`` to ``OUTAGE_END``: the
    most load this machine can put on the write path, outage included.
    """
    env, environ = split
    for key in ("READ_DATABASE_URL", "READ_REPLICA_URLS"):
        os.environ[key] = environ[key]
    setup_django(env.database_url)
    from bench.writes import lua_script, order_inputs
    from orders_read.models import OrderSummary
    from orders_write.models import Order

    follower = subprocess.Popen(
        [PYTHON, "manage.py", "catch_up_projections", "--follow"],
        env=environ,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    posted: list[WrkResult] = []
    try:
        with (
            tempfile.TemporaryDirectory() as tmp,
            gunicorn(
                env, extra_env={"READ_DATABASE_URL": environ["READ_DATABASE_URL"]}, threads=4
            ) as base,
        ):
            script = lua_script(f"{tmp}/place.lua", order_inputs(500, seed=7))
            wrk(f"{base}/orders", env.token, 2, connections=8, script=script)  # warm up

            def post() -> None:
                posted.append(
                    wrk(f"{base}/orders", env.token, OUTAGE_RUN, connections=8, script=script)
                )

            log(
                f"POST /orders (wrk, 8 connections); the read cluster stops at {OUTAGE_START:.0f} s"
            )
            poster = threading.Thread(target=post)
            started = time.monotonic()
            poster.start()
            time.sleep(OUTAGE_START)
            subprocess.run([PG, "down", f"{split_dir}/read"], check=True)
            time.sleep(OUTAGE_END - (time.monotonic() - started))
            subprocess.run([PG, "up", f"{split_dir}/read"], check=True)
            back = time.monotonic()
            placed_until_back = Order.objects.count()
            while OrderSummary.objects.count() < placed_until_back:
                time.sleep(0.05)
            caught_up = time.monotonic() - back
            poster.join()
    finally:
        follower.terminate()
        follower.wait(timeout=30)
    (result,) = posted
    log(f"POST /orders: {result}")
    return [
        Figure(
            f"POST /orders errors, read DB down {OUTAGE_END - OUTAGE_START:.0f} s "
            f"(of {result.requests:,} in {OUTAGE_RUN:.0f} s)",
            result.errors,
            "",
            better="lower",
            target="0",
            met=result.errors == 0,
        ),
        Figure("POST /orders answered meanwhile", result.requests_per_second, "orders/s"),
        Figure("catch-up after the read database returns", caught_up, "s", better="lower"),
    ]


def main() -> None:
    args = parser(__doc__, default_orders=20_000).parse_args()
    with clusters() as (split_variables, single_variables, split_dir):
        log(f"seeding {args.orders:,} orders in each topology")
        split = prepared(split_variables, args.orders)
        single = prepared(single_variables, args.orders)
        figures = lag_and_reads(split, single, args.seconds)
        figures += read_outage(split, split_dir)
    print_table(figures, f"Scaling out at {args.orders:,} orders — {machine()}")


if __name__ == "__main__":
    main()
