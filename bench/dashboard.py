"""Target 1: GET /orders/dashboard against the CRUD way, under gunicorn + wrk; the plans."""

from __future__ import annotations

import datetime
import statistics
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


def measure(env: Env, seconds: float) -> list[Figure]:
    log("EXPLAIN of each dashboard query")
    print("\nPlans (PostgreSQL, EXPLAIN ANALYZE of the page query)\n")
    print(plans(env), flush=True)
    figures = []
    rps: dict[str, float] = {}
    latency: dict[str, float] = {}
    mine: dict[str, WrkResult] = {}
    # Ours on one server, then the baseline on a fresh one: a slow baseline request
    # left running when wrk stops must not hold a worker during our measurement.
    with gunicorn(env) as base:
        for name, ours, _ in scenarios(env):
            log(f"wrk ours: {name}")
            mine[name] = wrk(f"{base}/orders/dashboard?{ours}", env.token, seconds)
            rps[name], latency[name] = mine[name].requests_per_second, mine[name].p50_ms
        log("wrk ceiling: an authenticated view answering {}")
        ceiling = wrk(f"{base}/bench/ceiling", env.token, seconds)
    crud_rps: dict[str, float] = {}
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
            crud_rps[name] = crud.requests_per_second
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
    deep = f"page {DEEP_ROWS:,} rows deep"
    # Latency of the deep page against the first page (p50 under the same load).
    figures.append(
        Figure(
            "dashboard deep page p50 latency",
            latency[deep],
            "ms",
            latency["first page"],
            "our first page",
            better="lower",
            target="deep <= 1.5x first",
            met=latency[deep] <= 1.5 * latency["first page"],
        )
    )
    # What 20x a baseline asks for, against the most this stack serves here.
    fastest = max(crud_rps, key=crud_rps.get)
    figures.append(
        Figure(
            "ceiling (context, not a result): DRF view answering {}",
            ceiling.requests_per_second,
            "req/s",
            crud_rps[fastest],
            f"CRUD {fastest}",
            target=f"20x {fastest} needs {20 * crud_rps[fastest]:,.0f} req/s",
        )
    )
    log(f"median req/s over scenarios: {statistics.median(rps.values()):,.0f}")
    return figures


def main() -> None:
    args = parser(__doc__).parse_args()
    with environment(args.orders) as env:
        print_table(measure(env, args.seconds), f"Dashboard at {args.orders:,} orders")


if __name__ == "__main__":
    main()
