"""Read-your-writes waits cannot hold the server: /health while clients ask for long waits.

N clients each send one ``GET /orders/dashboard/{id}?min_version=N&wait=10000`` at
once, and /health is timed while their requests are in flight, under gunicorn as
``make serve`` runs it (3 workers x 4 threads), against /health with none, in the same
run. Two kinds of wait:

- filtered: ``min_version=1&status=CANCELLED`` on a PENDING order whose row is current.
  The answer cannot change; it used to hold a server thread for the whole 10 s.
- behind: ``min_version=2`` on an order approved while nothing projects (the server runs
  with ``ORDERS_INLINE_PROJECTION=0`` and no follower): a wait that can only time out.
  Only ``ORDERS_MAX_WAITING_READS`` per process may hold a thread; the others answer
  at once, stale.
"""

from __future__ import annotations

import statistics
import threading
import time
import urllib.error
import urllib.request

from bench.common import Env, Figure, environment, gunicorn, log, parser, print_table

THREADS = 4
HEALTH_SAMPLES = 20
WAIT_MS = 10_000
# A /health that has not answered by then is counted as taking this long.
HEALTH_TIMEOUT = 30.0


def _get(url: str, token: str | None = None, timeout: float = 60) -> float:
    """Seconds one GET took (any status; ``timeout`` if it had no answer by then)."""
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Token {token}")
    started = time.monotonic()
    try:
        urllib.request.urlopen(request, timeout=timeout).read()
    except urllib.error.HTTPError as error:
        error.read()
    except TimeoutError:
        return timeout
    return time.monotonic() - started


def _health_ms(base: str) -> tuple[float, float]:
    """/health's median and slowest latency (ms) over ``HEALTH_SAMPLES`` requests."""
    samples = [_get(base + "/health", timeout=HEALTH_TIMEOUT) * 1000 for _ in range(HEALTH_SAMPLES)]
    return statistics.median(samples), max(samples)


def _during_waits(base: str, token: str, url: str, clients: int) -> tuple[tuple[float, float], int]:
    """/health's median and slowest latency (ms) while ``clients`` requests to ``url`` are sent at
    once, and how many of those requests took over a second."""
    took: list[float] = []
    senders = [
        threading.Thread(target=lambda: took.append(_get(url, token)), daemon=True)
        for _ in range(clients)
    ]
    for sender in senders:
        sender.start()
    health = _health_ms(base)
    for sender in senders:
        sender.join(timeout=WAIT_MS / 1000 + 30)
    return health, sum(1 for seconds in took if seconds > 1)


def _an_order_behind_the_log() -> str:
    """A PENDING order approved with nothing projecting: the log has v2, the row v1."""
    from django.conf import settings

    from orders_read.models import OrderSummary
    from orders_write.bus import dispatch
    from orders_write.commands import SYSTEM, ApproveOrder

    order_id = OrderSummary.objects.filter(status="PENDING").values_list("pk", flat=True)[1]
    settings.ORDERS_INLINE_PROJECTION = False
    dispatch(ApproveOrder(order_id=order_id), actor=SYSTEM)
    return str(order_id)


def measure(env: Env) -> list[Figure]:
    from orders_read.models import OrderSummary

    current = OrderSummary.objects.filter(status="PENDING").values_list("pk", flat=True)[0]
    behind = _an_order_behind_the_log()
    waits = {
        "filtered": f"/orders/dashboard/{current}?min_version=1&status=CANCELLED",
        "behind": f"/orders/dashboard/{behind}?min_version=2",
    }
    figures = []
    with gunicorn(env, {"ORDERS_INLINE_PROJECTION": "0"}, threads=THREADS) as base:
        _health_ms(base)  # warm every worker up
        quiet = _health_ms(base)
        for kind, path in waits.items():
            for clients in (12, 36):
                log(f"/health while {clients} {kind} waits are in flight")
                url = f"{base}{path}&wait={WAIT_MS}"
                (p50, slowest), held = _during_waits(base, env.token, url, clients)
                label = f"while {clients} {kind} 10 s waits are in flight"
                figures += [
                    Figure(
                        f"/health p50 {label} ({held} answered after over 1 s)",
                        p50,
                        "ms",
                        baseline=quiet[0],
                        baseline_name="/health p50 alone",
                        better="lower",
                    ),
                    Figure(
                        f"/health slowest of {HEALTH_SAMPLES} {label}",
                        slowest,
                        "ms",
                        baseline=quiet[1],
                        baseline_name="/health slowest alone",
                        better="lower",
                    ),
                ]
    return figures


def main() -> None:
    args = parser(__doc__, default_orders=2_000).parse_args()
    with environment(args.orders) as env:
        print_table(measure(env), f"Waiting reads at {args.orders:,} orders")


if __name__ == "__main__":
    main()
