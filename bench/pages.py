"""People's pages: /dashboard/ and the admin's list pages.

- ``/dashboard/`` server time: p50 with one connection (nothing queues), and req/s
  with six, for a logged-in clerk (a session cookie).
- Each admin list page (orders, events, summaries, customers; the whole list, a
  filter, a search), p50 with one connection, beside the same page with the options
  it had before (``bench/old_admin.py``: full COUNT, date hierarchy, ``icontains``)
  on the same data, in the same run.

The stats endpoints are measured with the other read endpoints, against the ceiling,
in ``bench/dashboard.py``.
"""

from __future__ import annotations

import http.cookiejar
import re
import urllib.parse
import urllib.request

from bench.common import Env, Figure, environment, gunicorn, log, manage, parser, print_table, wrk

ADMIN_TARGET_MS = 150.0
DASHBOARD_TARGET_MS = 50.0


def session_cookie(base: str) -> str:
    """Log in as the demo admin (``admin`` / ``admin``) through the login page, as a
    person does; its session cookie, as a Cookie header."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(f"{base}/accounts/login/", timeout=60).read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    form = urllib.parse.urlencode(
        {"username": "admin", "password": "admin", "csrfmiddlewaretoken": token}
    ).encode()
    opener.open(f"{base}/accounts/login/", data=form, timeout=60).read()
    cookies = {cookie.name: cookie.value for cookie in jar}
    return f"Cookie: sessionid={cookies['sessionid']}"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None  # a redirect (to the login page) is an error here, not a fast page


def answers_200(url: str, headers: list[str]) -> str:
    """``url``, once it has answered 200 itself (wrk counts a redirect as a success)."""
    request = urllib.request.Request(url, headers=dict(h.split(": ", 1) for h in headers))
    with urllib.request.build_opener(_NoRedirect).open(request, timeout=300) as response:
        assert response.status == 200, (url, response.status)
    return url


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
    manage("collectstatic", "--no-input")  # the pages link their assets by hashed name
    figures = []
    with gunicorn(env) as base:
        cookie = session_cookie(base)
        answers_200(f"{base}/dashboard/", [cookie])
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
        figures.append(
            Figure("ceiling (context): DRF view answering {}", ceiling.requests_per_second, "req/s")
        )
        for name, path, raw_query in admin_pages():
            key, _, value = raw_query.partition("=")
            query = f"{key}={urllib.parse.quote(value)}" if raw_query else ""
            log(f"wrk: admin {name}")
            new_url = answers_200(f"{base}/admin/{path}?{query}", [cookie])
            old_url = answers_200(f"{base}/bench/old-admin/{path}?{query}", [cookie])
            new = wrk(new_url, env.token, seconds, connections=1, headers=[cookie])
            old = wrk(old_url, env.token, seconds, connections=1, headers=[cookie])
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
