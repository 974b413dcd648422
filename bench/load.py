"""An open-loop writer: PlaceOrder through the bus at a fixed rate, for the follower's lag.

Run as ``python -m bench.load --rate 100 --seconds 12 --seed 1`` (one process each;
the catch-up benchmark starts several). Order ``i`` is due at ``start + i / rate``
whatever the previous orders took, so a slow database shows up as a missed rate,
never as a quietly lower load. Prints one JSON line: orders, seconds, errors.
"""

from __future__ import annotations

import argparse
import json
import os
import time


def paced_orders(rate: float, seconds: float, seed: int) -> dict[str, float]:
    from bench.writes import _order_inputs
    from orders_write.bus import dispatch
    from orders_write.commands import Actor, OrderLine, PlaceOrder

    actor = Actor(user_id=None, username="bench-load")
    total = int(rate * seconds)
    commands = [
        PlaceOrder(
            customer_id=customer,
            payment_method_id=method,
            items=tuple(OrderLine(**line) for line in lines),
        )
        for customer, method, lines in _order_inputs(total, seed=seed)
    ]
    errors = 0
    started = time.monotonic()
    for index, command in enumerate(commands):
        pause = started + index / rate - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        errors += not dispatch(command, actor=actor).success
    return {"orders": total, "seconds": time.monotonic() - started, "errors": errors}


def main() -> None:
    from bench.common import setup_django

    arguments = argparse.ArgumentParser(description=__doc__)
    arguments.add_argument("--rate", type=float, required=True, help="orders/s")
    arguments.add_argument("--seconds", type=float, required=True)
    arguments.add_argument("--seed", type=int, default=1)
    args = arguments.parse_args()
    setup_django(os.environ["DATABASE_URL"])
    print(json.dumps(paced_orders(args.rate, args.seconds, args.seed)), flush=True)


if __name__ == "__main__":
    main()
