"""People's pages: /dashboard/, the stats endpoints and the admin's list pages.

- ``/dashboard/`` server time: p50 with one connection (nothing queues), and req/s
  with six, for a logged-in clerk (a session cookie).
- ``/stats/summary`` and ``/stats/daily``: req/s beside the ceiling (an authenticated
  DRF view answering ``{}``) on the same server.
- Each admin list page (orders, events, summaries, customers; the whole list, a
  filter, a search), p50 with one connection, beside the same page with the options
  it had before (``bench/old_admin.py``: full COUNT, date hierarchy, ``icontains``)
  on the same data, in the same run.
"""

from __future__ import annotations

from bench.common import Env, Figure, environment, gunicorn, log, manage, parser, print_table, wrk

ADMIN_TARGET_MS = 150.0
DASHBOARD_TARGET_MS = 50.0


def session_cookie() -> str:
    """A logged-in session of the demo admin (all permissions), as a Cookie header."""
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client

    client = Client()
    client.force_login(get_user_model().objects.get(username="admin"))
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    return f"Cookie: {settings.SESSION_COOKIE_NAME}={session}"


def admin_pages() -> list[tuple[str, str, str]]:
    """(name, path under the admin site, query): each list, one filter, one search."""
    from orders_write.models import Customer

    email = Customer.objects.values_list("email", flat=True).first()
    name = Customer.objects.values_list("name", flat=True).first()
    return [
        ("orders", "orders_write/order/", ""),
        ("orders status=PENDING", "orders_write/order/", "status__exact=PENDING"),
        ("orders search email", "orders_write/order/", f"q={email}"),
        ("events", "orders_write/event/", ""),
        ("events type=OrderCancelled", "orders_write/event/", "type=OrderCancelled"),
        ("summaries", "orders_read/ordersummary/", ""),
        ("summaries status=PENDING", "orders_read/ordersummary/", "status=PENDING"),
        ("summaries search email", "orders_read/ordersummary/", f"q={email}"),
        ("customers", "orders_write/customer/", ""),
        ("customers search name", "orders_write/customer/", f"q={name[:4]}"),
    ]


def measure(env: Env, seconds: float) -> list[Figure]:
    from urllib.parse import quote

    manage("collectstatic", "--no-input")  # the pages link their assets by hashed name
    cookie = session_cookie()
    figures = []
    with gunicorn(env) as base:
        log("wrk: /dashboard/ (1 connection, then 6)")
        one = wrk(f"{base}/dashboard/", env.token, seconds, connections=1, headers=[cookie])
        six = wrk(f"{base}/dashboard/", env.token, seconds, headers=[cookie])
        figures.append(
            Figure(
                "/dashboard/ server time p50 (1 connection)",
                one.p50_ms,
                "ms",
                target=f"<= {DASHBOARD_TARGET_MS:.0f} ms",
                better="lower",
                met=one.errors == 0 and one.p50_ms <= DASHBOARD_TARGET_MS,
            )
        )
        log("wrk: ceiling, /stats/summary, /stats/daily")
        ceiling = wrk(f"{base}/bench/ceiling", env.token, seconds)
        figures.append(
            Figure(
                "/dashboard/ (6 connections)",
                six.requests_per_second,
                "req/s",
                ceiling.requests_per_second,
                "ceiling",
            )
        )
        for path in ("/stats/summary", "/stats/daily"):
            result = wrk(f"{base}{path}", env.token, seconds)
            figures.append(
                Figure(
                    path,
                    result.requests_per_second,
                    "req/s",
                    ceiling.requests_per_second,
                    "ceiling: DRF view answering {}",
                    met=result.errors == 0 or None,
                )
            )
        figures.append(
            Figure("ceiling (context): DRF view answering {}", ceiling.requests_per_second, "req/s")
        )
        for name, path, query in admin_pages():
            query = "&".join(
                f"{key}={quote(value)}"
                for key, value in (p.split("=", 1) for p in query.split("&") if p)
            )
            log(f"wrk: admin {name}")
            new = wrk(
                f"{base}/admin/{path}?{query}", env.token, seconds, connections=1, headers=[cookie]
            )
            old = wrk(
                f"{base}/bench/old-admin/{path}?{query}",
                env.token,
                seconds,
                connections=1,
                headers=[cookie],
            )
            figures.append(
                Figure(
                    f"admin {name} p50",
                    new.p50_ms,
                    "ms",
                    old.p50_ms,
                    "the old admin options",
                    better="lower",
                    target=f"<= {ADMIN_TARGET_MS:.0f} ms",
                    met=new.errors == 0 and new.p50_ms <= ADMIN_TARGET_MS,
                )
            )
    return figures


def main() -> None:
    args = parser(__doc__).parse_args()
    with environment(args.orders) as env:
        print_table(measure(env, args.seconds), f"Pages at {args.orders:,} orders")


if __name__ == "__main__":
    main()
