"""PlaceOrder through the bus (inline projection) against plain Django writes.

Issue 14's target: at most 1.3x plain Django per order, in one process (one thread, four
threads), as POST p50 under gunicorn, and with fsync on (PostgreSQL restarted durable, as
in production; every other row runs on the bench's fsync-off server). Beside them, the
same one-thread figure with the inline projection off: our write side alone, so the
difference between the two rows is what writing the read model's rows in the command's
time costs.
"""

from __future__ import annotations

import gc
import json
import random
import tempfile
import time
from collections.abc import Callable

from bench.common import (
    Env,
    Figure,
    environment,
    fsync_on,
    gunicorn,
    log,
    parser,
    print_table,
    wrk,
)

ROUNDS = 9
PER_ROUND = 200
THREADS = 4
# Issue 14: ours at most this many times plain Django's time per order.
TARGET_RATIO = 1.3
TARGET = f"<= {TARGET_RATIO}x plain"


def order_inputs(count: int, seed: int = 1) -> list[tuple[int, int, list[dict]]]:
    from orders_write.models import PaymentMethod, Product

    rng = random.Random(seed)
    methods = list(
        PaymentMethod.objects.filter(is_enabled=True, customer__status="active").values_list(
            "customer_id", "pk"
        )[:2000]
    )
    products = list(Product.objects.filter(is_available=True).values_list("pk", flat=True))
    return [
        (
            *rng.choice(methods),
            [
                {"product_id": product, "quantity": rng.randint(1, 4)}
                for product in rng.sample(products, rng.randint(1, 4))
            ],
        )
        for _ in range(count)
    ]


def bus_place(customer: int, method: int, lines: list[dict]) -> None:
    """PlaceOrder through the command bus (inline projection as configured); a rejection
    raises, so no benchmark counts an order that was not placed."""
    from orders_write.bus import dispatch
    from orders_write.commands import Actor, OrderLine, PlaceOrder

    command = PlaceOrder(
        customer_id=customer,
        payment_method_id=method,
        items=tuple(OrderLine(**line) for line in lines),
    )
    result = dispatch(command, actor=Actor(user_id=None, username="bench"))
    if not result.success:
        raise RuntimeError(f"PlaceOrder rejected: {result}")


def in_process(rounds: int = ROUNDS, seed: int = 1) -> tuple[float, float]:
    """Seconds per order (bus + inline projection, plain) in the round with the median ratio.

    Each round times ``PER_ROUND`` orders each way, the two in turns (ours first in
    even rounds, plain first in odd ones), so drift on a shared machine hits both. The
    ratio is taken within each round, as the dashboard's shares are (``bench.dashboard``):
    the two sides' own medians could come from rounds minutes apart, and the machine's
    speed swings more than the difference between them.
    """
    from django.db import transaction

    from bench.baseline import plain_place_order
    from orders_write.models import Order

    inputs = iter(order_inputs(rounds * PER_ROUND * 2, seed=seed))
    plain_ids = []
    ours = bus_place

    def plain(customer: int, method: int, lines: list[dict]) -> None:
        plain_ids.append(plain_place_order(customer, method, lines).pk)

    def per_order(place: Callable[[int, int, list[dict]], None]) -> float:
        gc.collect()  # neither side pays for the other's garbage
        started = time.perf_counter()
        for _ in range(PER_ROUND):
            place(*next(inputs))
        return (time.perf_counter() - started) / PER_ROUND

    times: dict[Callable, list[float]] = {ours: [], plain: []}
    for round_ in range(rounds):
        for place in (ours, plain) if round_ % 2 == 0 else (plain, ours):
            times[place].append(per_order(place))
    # The baseline's orders have no events: remove them so the log stays the truth.
    with transaction.atomic():
        Order.objects.filter(pk__in=plain_ids).delete()
    by_ratio = sorted(
        zip(times[ours], times[plain], strict=True), key=lambda pair: pair[0] / pair[1]
    )
    return by_ratio[rounds // 2]


def write_side_alone() -> tuple[float, float]:
    """``in_process`` with the inline projection off: our write side alone (the order,
    its event, the bus) against plain Django; then catch-up brings the read model up to
    date again for the figures after it."""
    from django.test import override_settings

    from orders_read.engine.catchup import catch_up_all

    with override_settings(ORDERS_INLINE_PROJECTION=False):
        times = in_process(seed=4)
    catch_up_all()
    return times


def threaded(threads: int, seconds: float) -> tuple[float, float]:
    """Orders/s from one process with ``threads`` threads, each its own connection:
    (bus + inline projection, plain Django), over ``seconds`` each, in alternating
    halves (ours, plain, plain, ours)."""
    import threading

    from django.db import connection

    from bench.baseline import plain_place_order

    # Far more orders than the machine can place in the time: never runs dry.
    inputs = iter(order_inputs(int(threads * seconds * 1000), seed=4))
    take = threading.Lock()
    ours = bus_place

    def run(place: Callable[[int, int, list[dict]], object], duration: float) -> tuple[int, float]:
        done = [0] * threads
        failures: list[BaseException] = []
        stop = time.monotonic() + duration

        def worker(index: int) -> None:
            try:
                while time.monotonic() < stop:
                    with take:
                        order = next(inputs)
                    place(*order)
                    done[index] += 1
            except BaseException as error:  # re-raised below, in the measuring thread
                failures.append(error)
            finally:
                connection.close()

        workers = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
        started = time.monotonic()
        for thread in workers:
            thread.start()
        for thread in workers:
            thread.join()
        if failures:
            raise failures[0]
        return sum(done), time.monotonic() - started

    totals = {ours: [0, 0.0], plain_place_order: [0, 0.0]}
    for place in (ours, plain_place_order, plain_place_order, ours):
        orders, elapsed = run(place, seconds / 2)
        totals[place][0] += orders
        totals[place][1] += elapsed
    return (
        totals[ours][0] / totals[ours][1],
        totals[plain_place_order][0] / totals[plain_place_order][1],
    )


def lua_script(path: str, inputs: list[tuple[int, int, list[dict]]]) -> str:
    bodies = [
        json.dumps({"customer_id": c, "payment_method_id": m, "items": lines})
        for c, m, lines in inputs
    ]
    lua = (
        "bodies = {" + ",".join("[==[" + body + "]==]" for body in bodies) + "}\nlocal n = 0\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
        "request = function()\n  n = n + 1\n"
        '  return wrk.format("POST", nil, nil, bodies[(n % #bodies) + 1])\nend\n'
    )
    with open(path, "w") as script:
        script.write(lua)
    return path


def within_target(ours: float, plain: float) -> bool:
    """Whether ours (a time) is at most ``TARGET_RATIO`` times plain's."""
    return ours <= TARGET_RATIO * plain


def time_per_order(name: str, ours: float, plain: float, baseline: str) -> Figure:
    """Ours against plain Django, seconds per order, as a row in ms with the target."""
    return Figure(
        name,
        ours * 1000,
        "ms",
        plain * 1000,
        baseline,
        better="lower",
        target=TARGET,
        met=within_target(ours, plain),
    )


def measure(env: Env, seconds: float) -> list[Figure]:
    log("PlaceOrder in one process: bus + inline projection vs plain Django, alternating")
    ours, plain = in_process()
    figures = [
        Figure(
            "PlaceOrder, one process, 1 thread (bus + event + inline projection)",
            1 / ours,
            "orders/s",
            1 / plain,
            "plain Django, no events",
        ),
        time_per_order(
            "PlaceOrder time per order, 1 thread", ours, plain, "plain Django, no events"
        ),
    ]
    log("PlaceOrder in one process, inline projection off: the write side alone")
    alone, plain_beside = write_side_alone()
    figures.append(
        Figure(
            "PlaceOrder time per order, 1 thread, inline projection off (the order and its "
            "event: what the read model's rows add is the difference to the row above)",
            alone * 1000,
            "ms",
            plain_beside * 1000,
            "plain Django, no events",
            better="lower",
        )
    )
    log(f"PlaceOrder in one process, {THREADS} threads")
    ours_threads, plain_threads = threaded(THREADS, seconds)
    figures.append(
        Figure(
            f"PlaceOrder, one process, {THREADS} threads (alternating halves)",
            ours_threads,
            "orders/s",
            plain_threads,
            "plain Django, same threads",
            target=f"{TARGET} per order",
            met=within_target(1 / ours_threads, 1 / plain_threads),
        )
    )
    log("PlaceOrder in one process, PostgreSQL restarted with fsync on")
    with fsync_on():
        ours_durable, plain_durable = in_process(rounds=5, seed=3)
    figures.append(
        time_per_order(
            "PlaceOrder time per order, 1 thread, fsync on",
            ours_durable,
            plain_durable,
            "plain Django, fsync on",
        )
    )
    inputs = order_inputs(500, seed=2)
    with tempfile.TemporaryDirectory() as tmp, gunicorn(env) as base:
        script = lua_script(f"{tmp}/place.lua", inputs)
        # Warm both up first: a worker's first requests import and connect, and the
        # endpoint measured first would otherwise carry that in its p99.
        for path in ("orders", "bench/crud/place"):
            wrk(f"{base}/{path}", env.token, 2, connections=8, script=script)
        log("wrk POST /orders vs POST /bench/crud/place (8 connections)")
        mine = wrk(f"{base}/orders", env.token, seconds, connections=8, script=script)
        crud = wrk(f"{base}/bench/crud/place", env.token, seconds, connections=8, script=script)
    figures += [
        Figure(
            "POST /orders under gunicorn (8 clients)",
            mine.requests_per_second,
            "orders/s",
            crud.requests_per_second,
            "plain Django POST",
            target="zero errors",
            met=mine.errors == 0,
        ),
        Figure(
            "POST /orders p50",
            mine.p50_ms,
            "ms",
            crud.p50_ms,
            "plain Django",
            "lower",
            target=TARGET,
            met=within_target(mine.p50_ms, crud.p50_ms),
        ),
        Figure("POST /orders p99", mine.p99_ms, "ms", crud.p99_ms, "plain Django", "lower"),
        Figure(
            f"POST /orders errors (of {mine.requests:,}; baseline {crud.errors})",
            mine.errors,
            "",
            target="0",
            met=mine.errors == 0,
        ),
    ]
    _clean_plain_orders()
    return figures


def _clean_plain_orders() -> None:
    """Remove the orders the plain-Django baseline wrote over HTTP (they have no events)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM orders_write_orderitem WHERE order_id IN (SELECT id FROM "
            "orders_write_order o WHERE NOT EXISTS (SELECT 1 FROM orders_write_event e "
            "WHERE e.stream_id = o.id))"
        )
        cursor.execute(
            "DELETE FROM orders_write_order o WHERE NOT EXISTS (SELECT 1 FROM "
            "orders_write_event e WHERE e.stream_id = o.id)"
        )


def main() -> None:
    args = parser(__doc__).parse_args()
    with environment(args.orders) as env:
        print_table(measure(env, args.seconds), f"Writes at {args.orders:,} orders")


if __name__ == "__main__":
    main()
