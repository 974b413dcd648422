"""Every benchmark in one run on one fresh PostgreSQL: ``make bench`` (ORDERS=1000000)."""

from __future__ import annotations

from bench import catchup, dashboard, pages, rebuild, waits, writes
from bench.common import Figure, environment, log, machine, parser, print_table


def main() -> None:
    args = parser(__doc__).parse_args()
    with environment(args.orders) as env:
        figures = [
            Figure(
                f"seed_demo --orders {args.orders:,} (bulk load + rebuild)",
                env.seed_seconds,
                "s",
                180.0,
                "target",
                better="lower",
                target="< 3 min",
                met=env.seed_seconds < 180,
            )
        ]
        figures += rebuild.measure(env)
        figures += dashboard.measure(env, args.seconds)
        figures += writes.measure(env, args.seconds)
        figures += catchup.measure(env, args.seconds)
        figures += pages.measure(env, args.seconds)
        # Last: it approves an order with nothing projecting, to wait on.
        figures += waits.measure(env)
    log("done")
    print_table(figures, f"CQRS orders at {args.orders:,} orders — {machine()}")


if __name__ == "__main__":
    main()
