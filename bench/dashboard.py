"""Every dashboard read endpoint under gunicorn + wrk: against the ceiling, and the CRUD way.

- Against the ceiling (issue 14: each at >= 60%): each read endpoint (the dashboard's
  first page, each filter, 10,000 rows deep, one row, a customer's orders, the stats)
  and the ceiling (a token-authenticated DRF view answering ``{}``) take turns on the
  same server, ``ROUNDS`` wrk runs of half ``--seconds`` each, one after the other, so
  both see the same minute of this shared machine; the share is the median of the
  rounds' shares.
- Against the CRUD way (the same filters on the write tables), on a fresh server.
- The plans: EXPLAIN ANALYZE of each page query.
"""

from __future__ import annotations

import datetime
import time
import urllib.request

from bench.common import (
    WORKERS,
    Env,
    Figure,
    WrkResult,
    environment,
    gunicorn,
    log,
    parser,
    print_table,
    wrk,
)

PAGE = 50
DEEP_ROWS = 10_000


def scenarios(env: Env) -> list[tuple[str, str, str]]:
    """(name, our query, the baseline's query): first page, each filter, 10,000 rows deep."""
    from orders_read.models import OrderSummary

    email = OrderSummary.objects.values_list("customer_email", flat=True).first()
    since = (datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=30)).date()
    until = since + datetime.timedelta(days=7)
    return [
        ("first page", "", ""),
        ("status=PENDING", "status=PENDING", "status=PENDING"),
        ("is_high_value=true", "is_high_value=true", "is_high_value=true"),
        (
            "placed_after+placed_before (a week)",
            f"placed_after={since}&placed_before={until}",
            f"placed_after={since}&placed_before={until}",
        ),
        ("customer_email", f"customer_email={email}", f"customer_email={email}"),
        (
            f"page {DEEP_ROWS:,} rows deep",
            f"cursor={deep_cursor()}",
            f"page={DEEP_ROWS // PAGE + 1}",
        ),
    ]


def deep_cursor() -> str:
    """The cursor of the page that starts after the first ``DEEP_ROWS`` rows."""
    from orders_read.models import OrderSummary
    from orders_read.pagination import DashboardPagination, Position

    row = OrderSummary.objects.order_by("-placed_at", "-order_id").values("placed_at", "order_id")[
        DEEP_ROWS - 1
    ]
    return DashboardPagination.encode_position(Position(row["placed_at"], row["order_id"]))


def plans(env: Env) -> str:
    """EXPLAIN ANALYZE of the page query behind every filter and the deep page."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from rest_framework.test import APIClient

    from orders_read.models import OrderSummary

    client = APIClient(HTTP_HOST="127.0.0.1")
    client.force_authenticate(get_user_model().objects.get(username="admin"))
    out = []
    by_customer = ("customer_id (GET /customers/{id}/orders)", "customer", "")
    for name, query, _ in [*scenarios(env), by_customer]:
        if query == "customer":
            customer = OrderSummary.objects.values_list("customer_id", flat=True).first()
            path = f"/customers/{customer}/orders"
        else:
            path = f"/orders/dashboard?{query}"
        with CaptureQueriesContext(connection) as queries:
            response = client.get(path)
        assert response.status_code == 200, response.content
        sql = [q["sql"] for q in queries if "orders_read_ordersummary" in q["sql"]][-1]
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON) " + sql)
            plan = "\n".join(f"    {line}" for (line,) in cursor.fetchall())
        out.append(f"{name}: {path[:100]}\n{plan}")
    return "\n\n".join(out)


def cancel_running_queries() -> None:
    """Stop the baseline's queries still running for clients wrk has left (they would
    slow every later measurement down)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE state = 'active' "
            "AND pid <> pg_backend_pid() AND datname = current_database()"
        )


def read_endpoints(env: Env) -> list[tuple[str, str]]:
    """(name, path and query) of every read endpoint measured against the ceiling."""
    from orders_read.models import OrderSummary

    row = OrderSummary.objects.values("order_id", "customer_id").first()
    return [
        *((f"dashboard {name}", f"/orders/dashboard?{query}") for name, query, _ in scenarios(env)),
        ("dashboard row (/orders/dashboard/{id})", f"/orders/dashboard/{row['order_id']}"),
        ("a customer's orders (/customers/{id}/orders)", f"/customers/{row['customer_id']}/orders"),
        ("/stats/summary", "/stats/summary"),
        ("/stats/daily", "/stats/daily"),
    ]


ROUNDS = 7
CEILING_SHARE_TARGET = 0.60


Rounds = list[tuple[WrkResult, WrkResult]]  # each round's (endpoint, ceiling) runs


def _median_pair(rounds: Rounds) -> tuple[WrkResult, WrkResult]:
    """The round whose share (ours over the ceiling's, both of that round) is the median."""
    by_share = sorted(
        rounds, key=lambda pair: pair[0].requests_per_second / pair[1].requests_per_second
    )
    return by_share[len(by_share) // 2]


def _median_run(runs: list[WrkResult]) -> WrkResult:
    return sorted(runs, key=lambda run: run.requests_per_second)[len(runs) // 2]


def turn_about(env: Env, base: str, seconds: float) -> dict[str, Rounds]:
    """Each read endpoint and the ceiling, ``ROUNDS`` wrk runs each, turn about.

    The machine is shared and its speed swings between minutes, so a ceiling measured
    once cannot be compared with an endpoint measured a minute later. Each endpoint
    and the ceiling take turns of half ``seconds`` (short turns follow the swings;
    which goes first alternates, so a drift favours neither), and each round's share
    compares the two runs of that round only. The share reported is the round with
    the median share (``against_ceiling``): a round the machine slowed down moves the
    median of either side's runs, which come from different rounds, but not the
    median of the rounds' shares.
    """
    turn_seconds = max(1.0, round(seconds / 2))
    measured = {}
    for name, path in read_endpoints(env):
        rounds: Rounds = []
        for turn in range(ROUNDS):
            urls = [path, "/bench/ceiling"]
            runs = {
                url: wrk(f"{base}{url}", env.token, turn_seconds)
                for url in (urls if turn % 2 == 0 else urls[::-1])
            }
            rounds.append((runs[path], runs["/bench/ceiling"]))
        measured[name] = rounds
        ours, ceiling = _median_pair(rounds)
        log(f"{name}: {ours.requests_per_second / ceiling.requests_per_second:.0%} of the ceiling")
    return measured


def against_ceiling(measured: dict[str, Rounds]) -> list[Figure]:
    """One line per read endpoint: the round with the median share, its two req/s."""
    figures = []
    for name, rounds in measured.items():
        ours, ceiling = _median_pair(rounds)
        figures.append(
            Figure(
                f"{name} vs ceiling",
                ours.requests_per_second,
                "req/s",
                ceiling.requests_per_second,
                "ceiling: DRF view answering {}",
                target=f">= {CEILING_SHARE_TARGET:.2f}x",
                met=ours.errors == 0
                and ours.requests_per_second >= CEILING_SHARE_TARGET * ceiling.requests_per_second,
            )
        )
    return figures


def measure(env: Env, seconds: float, crud: bool = True) -> list[Figure]:
    log("EXPLAIN of each dashboard query")
    print("\nPlans (PostgreSQL, EXPLAIN ANALYZE of the page query)\n")
    print(plans(env), flush=True)
    # Ours on one server, then the baseline on a fresh one: a slow baseline request
    # left running when wrk stops must not hold a worker during our measurement.
    with gunicorn(env) as base:
        log(f"wrk: each read endpoint and the ceiling, turn about ({ROUNDS} rounds)")
        measured = turn_about(env, base, seconds)
    figures = against_ceiling(measured)
    # Against the CRUD way and the deep page against the first: each page's own median
    # run (the rounds' shares say nothing about how two pages compare).
    mine = {
        name: _median_run([ours for ours, _ in measured[f"dashboard {name}"]])
        for name, _, _ in scenarios(env)
    }
    if crud:
        figures += against_crud(env, seconds, mine)
    deep = f"page {DEEP_ROWS:,} rows deep"
    # Latency of the deep page against the first page (p50 under the same load).
    figures.append(
        Figure(
            "dashboard deep page p50 latency",
            mine[deep].p50_ms,
            "ms",
            mine["first page"].p50_ms,
            "our first page",
            better="lower",
            target="deep <= 1.5x first",
            met=mine[deep].p50_ms <= 1.5 * mine["first page"].p50_ms,
        )
    )
    return figures


def against_crud(env: Env, seconds: float, mine: dict[str, WrkResult]) -> list[Figure]:
    """Each dashboard page against the CRUD way's (the write tables), on a fresh server."""
    figures = []
    with gunicorn(env) as base:
        for name, _, theirs in scenarios(env):
            url = f"{base}/bench/crud/orders?{theirs}"
            # Long enough for a few of the baseline's requests, however slow they are.
            started = time.monotonic()
            urllib.request.urlopen(
                urllib.request.Request(url, headers={"Authorization": f"Token {env.token}"}),
                timeout=300,
            ).read()
            duration = max(seconds, min(60.0, 4 * (time.monotonic() - started)))
            log(f"wrk baseline: {name} ({duration:.0f} s)")
            crud = wrk(url, env.token, duration, connections=WORKERS)
            figures.append(
                Figure(
                    f"dashboard {name}",
                    mine[name].requests_per_second,
                    "req/s",
                    crud.requests_per_second,
                    "CRUD ModelViewSet",
                    target=">= 20x",
                    met=mine[name].errors == 0
                    and crud.requests > 0
                    and mine[name].requests_per_second >= 20 * crud.requests_per_second,
                )
            )
            if mine[name].errors or crud.errors:
                log(f"  errors: ours {mine[name].errors}, baseline {crud.errors}")
        cancel_running_queries()
    return figures


def main() -> None:
    arguments = parser(__doc__)
    arguments.add_argument(
        "--no-crud", action="store_true", help="only the ceiling's turns (no CRUD baseline)"
    )
    args = arguments.parse_args()
    with environment(args.orders) as env:
        figures = measure(env, args.seconds, crud=not args.no_crud)
        print_table(figures, f"Dashboard at {args.orders:,} orders")


if __name__ == "__main__":
    main()
