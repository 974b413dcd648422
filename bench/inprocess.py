"""Each read endpoint's CPU per request against the ceiling's, in one process.

The wrk figures (``bench/dashboard.py``) are what a client sees, but on a shared two-core
machine wrk, gunicorn and PostgreSQL compete for the cores, and a share moves ±0.1 between
runs. Here Django's test client sends the requests in this process, through every
middleware, authentication and view, and the figure is this process's CPU time per
request (``time.process_time``): what the server spends on a request, without the
network, the other processes or the wall clock. The endpoints and the ceiling take
turns, ``ROUNDS`` rounds of ``REQUESTS`` requests each; each round's share is the
ceiling's CPU per request over the endpoint's, and the figure is the median share.

Use it to tell what a change to the read path buys:
``.venv/bin/python -m bench.inprocess --orders 100000``.
"""

from __future__ import annotations

import gc
import time
from typing import TYPE_CHECKING

from bench.common import Env, Figure, environment, log, parser, print_table

if TYPE_CHECKING:
    from django.test import Client

ROUNDS = 7
REQUESTS = 300
CEILING = "/bench/ceiling"


def cpu_per_request(client: Client, path: str, requests: int = REQUESTS) -> float:
    """Seconds of this process's CPU per answer to ``path`` (each must be a 200)."""
    assert client.get(path).status_code == 200, path
    gc.collect()
    started = time.process_time()
    for _ in range(requests):
        client.get(path)
    return (time.process_time() - started) / requests


def measure(env: Env) -> list[Figure]:
    import logging

    from django.test import Client

    from bench.dashboard import read_endpoints

    logging.disable(logging.INFO)  # one log line per request would be most of the work
    client = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Token {env.token}")
    figures = []
    for name, path in read_endpoints(env):
        log(f"in process: {name} and the ceiling, turn about ({ROUNDS} rounds)")
        rounds = []
        for turn in range(ROUNDS):
            paths = [path, CEILING] if turn % 2 == 0 else [CEILING, path]
            cpu = {each: cpu_per_request(client, each) for each in paths}
            rounds.append((cpu[path], cpu[CEILING]))
        ours, ceiling = sorted(rounds, key=lambda pair: pair[1] / pair[0])[ROUNDS // 2]
        figures.append(
            Figure(
                f"{name}: CPU per request, in process",
                ours * 1000,
                "ms",
                ceiling * 1000,
                "ceiling: DRF view answering {}",
                better="lower",
            )
        )
    logging.disable(logging.NOTSET)
    return figures


def main() -> None:
    args = parser(__doc__, default_orders=100_000).parse_args()
    with environment(args.orders) as env:
        figures = measure(env)
        print_table(figures, f"Read endpoints in process at {args.orders:,} orders")
    print(f"(the round with the median share of {ROUNDS}, {REQUESTS} requests each way)")


if __name__ == "__main__":
    main()
