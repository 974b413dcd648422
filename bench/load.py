"""An open-loop writer: PlaceOrder through the bus at a fixed rate, for the follower's lag.

``DATABASE_URL=... python -m bench.load --rate 100 --seconds 12 --seed 1`` (one process
each; the catch-up benchmark starts several). Order ``i`` is due at ``start + i / rate``
whatever the previous orders took, so a slow database shows up as a missed rate,
never as a quietly lower load. Prints one JSON line: orders, seconds, errors.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import TYPE_CHECKING, TypedDict

if TYPE_CHECKING:
    from orders_write.commands import PlaceOrder


class LoadResult(TypedDict):
    orders: int  # commands sent, accepted or not
    seconds: float  # from the first command to the last answer
    errors: int  # commands rejected


def order_commands(count: int, seed: int) -> list[PlaceOrder]:
    """``count`` valid PlaceOrder commands for the seeded customers and catalog."""
    from bench.writes import order_inputs
    from orders_write.commands import OrderLine, PlaceOrder

    return [
        PlaceOrder(
            customer_id=customer,
            payment_method_id=method,
            items=tuple(OrderLine(**line) for line in lines),
        )
        for customer, method, lines in order_inputs(count, seed=seed)
    ]


def paced_orders(rate: float, seconds: float, seed: int) -> LoadResult:
    """Place ``rate * seconds`` orders, order ``i`` due at ``i / rate`` s after the start."""
    from orders_write.bus import dispatch
    from orders_write.commands import Actor

    actor = Actor(user_id=None, username="bench-load")
    commands = order_commands(int(rate * seconds), seed)
    errors = 0
    started = time.monotonic()
    for index, command in enumerate(commands):
        pause = started + index / rate - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        errors += not dispatch(command, actor=actor).success
    return {"orders": len(commands), "seconds": time.monotonic() - started, "errors": errors}


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
