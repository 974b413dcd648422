"""The dashboard in headless Chromium: what an operations clerk does with it all day.

Drives Debian's system Chromium through Playwright (no browser is downloaded)
against pytest-django's live server. Everything the test needs from the database is
made and counted before the browser starts: Playwright's sync API keeps an asyncio
loop in this thread, where Django refuses ORM calls (see tests/browser/test_browser.py).
After that, the browser and the API are the only ways in.
"""

from __future__ import annotations

import datetime
import os
import re
from types import SimpleNamespace
from unittest import mock

import pytest
from django.utils import timezone
from rest_framework.authtoken.models import Token

from orders_read.models import OrderSummary
from orders_write.bus import dispatch
from orders_write.commands import ApproveOrder, CancelOrder
from tests.browser.test_browser import CHROMIUM, CHROMIUM_ARGS, PASSWORD
from tests.conftest import ALL_ORDER_PERMISSIONS
from tests.factories import UserFactory

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (it is in the dev extra)"
)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not os.access(CHROMIUM, os.X_OK),
        reason=f"no Chromium at {CHROMIUM} (apt-get install chromium; .ci/run does as root)",
    ),
]

# Where to keep the 1280 px screenshot (docs/dashboard.png is one of them).
SCREENSHOT = os.environ.get("DASHBOARD_SCREENSHOT")


def counts():
    return {
        status: OrderSummary.objects.filter(status=status).count()
        for status in ("PENDING", "APPROVED", "CANCELLED")
    }


@pytest.fixture
def scene(transactional_db, place, actor, payment_method, products):
    """30 orders over four weeks (some high value; approved, cancelled, 8 pending), a
    clerk who may do everything, a viewer who may only look, and the counts as the
    database has them."""
    orders = []
    now = timezone.now()
    for n in range(30):  # over the last four weeks, so the chart has days to draw
        at = now - datetime.timedelta(days=(n * 11) % 28, hours=n % 7)
        with mock.patch("django.utils.timezone.now", return_value=at):
            orders.append(place(n % 3 + 1) if n % 5 else place(0, 0, 1))
    for order in orders[:14]:
        dispatch(ApproveOrder(order_id=order.id), actor=actor)
    for order in orders[14:22]:
        dispatch(CancelOrder(order_id=order.id, reason="seeded"), actor=actor)
    pending = orders[22:]
    clerk = UserFactory(username="ops-clerk", permissions=ALL_ORDER_PERMISSIONS)
    return SimpleNamespace(
        clerk=clerk,
        viewer=UserFactory(username="ops-viewer", permissions=["orders_read.view_ordersummary"]),
        token=Token.objects.create(user=clerk).key,
        pending=pending,
        counts=counts(),
        total=len(orders),
        order_body={
            "customer_id": payment_method.customer_id,
            "payment_method_id": payment_method.pk,
            "items": [{"product_id": products[0].pk, "quantity": 1}],
        },
    )


@pytest.fixture
def playwright(scene):
    with sync_api.sync_playwright() as playwright:
        yield playwright


@pytest.fixture
def browser(playwright):
    browser = playwright.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
    )
    try:
        yield browser
    finally:
        browser.close()


def open_page(browser, width=1280):
    context = browser.new_context(viewport={"width": width, "height": 900})
    context.set_default_timeout(15_000)
    return context.new_page()


def log_in(page, base_url, user):
    """Visit the dashboard logged out: the login page, and back to the dashboard."""
    page.goto(f"{base_url}/dashboard/")
    sync_api.expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/dashboard/"))
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    sync_api.expect(page).to_have_url(f"{base_url}/dashboard/")


def test_a_clerk_works_the_queue_and_the_page_follows(scene, live_server, playwright, browser):
    expect = sync_api.expect
    page = open_page(browser)
    log_in(page, live_server.url, scene.clerk)
    page.evaluate("window.notReloaded = true")  # gone if the page ever reloads

    # The counts are the database's.
    for status, count in scene.counts.items():
        expect(page.get_by_test_id(f"count-{status}")).to_have_text(f"{count:,}")

    # The chart has drawn today's orders.
    drawn = page.wait_for_function(
        """() => {
            const chart = window.Chart
                && Chart.getChart(document.querySelector('[data-testid="daily-chart"]'));
            return chart && chart.data.datasets[0].data.reduce((sum, n) => sum + n, 0);
        }"""
    ).json_value()
    assert drawn == scene.total

    # Approve from the queue: the row shows it as soon as the command answers.
    queue = page.get_by_test_id("approval-queue")
    first, second, taken = (str(order.id) for order in scene.pending[:3])
    row = queue.locator(f'tr[data-order-id="{first}"]')
    row.get_by_test_id("approve").click()
    expect(row.get_by_test_id("status")).to_have_text("APPROVED")

    # Cancel needs a reason.
    row = queue.locator(f'tr[data-order-id="{second}"]')
    row.get_by_test_id("cancel").click()
    expect(row.get_by_test_id("status")).to_have_text("PENDING")  # the browser asked for one
    row.locator('input[name="reason"]').fill("customer called")
    row.get_by_test_id("cancel").click()
    expect(row.get_by_test_id("status")).to_have_text("CANCELLED")

    api = playwright.request.new_context(
        base_url=live_server.url, extra_http_headers={"Authorization": f"Token {scene.token}"}
    )
    try:
        # Someone else approves an order first: the refusal in plain words.
        assert api.post(f"/orders/{taken}/approve", data={}).ok
        row = queue.locator(f'tr[data-order-id="{taken}"]')
        row.get_by_test_id("approve").click()
        expect(row.get_by_role("alert")).to_contain_text("someone else has already approved")

        # An order placed through the API shows up by itself: counts and queue.
        page.locator("body").click()  # out of the queue, so it may refresh
        placed = api.post("/orders", data=scene.order_body)
        assert placed.status == 201, placed.text()
        new_id = placed.json()["data"]["order_id"]
    finally:
        api.dispose()
    pending_now = scene.counts["PENDING"] - 3 + 1
    expect(page.get_by_test_id("count-PENDING")).to_have_text(f"{pending_now:,}")
    expect(queue.locator(f'tr[data-order-id="{new_id}"]')).to_have_count(1)
    assert page.evaluate("window.notReloaded") is True

    if SCREENSHOT:
        page.screenshot(path=SCREENSHOT, full_page=True)

    # Page the orders table, then filter it: the URL carries both.
    table = page.get_by_test_id("orders-table")
    expect(table.locator("tbody tr[data-order-id]")).to_have_count(25)
    page.get_by_test_id("next-page").click()
    expect(page).to_have_url(re.compile(r"cursor="))
    # The page was drawn before the API's order: it goes on from its own last row.
    expect(table.locator("tbody tr[data-order-id]")).to_have_count(scene.total - 25)
    page.get_by_test_id("previous-page").click()
    expect(table.locator("tbody tr[data-order-id]")).to_have_count(25)

    page.get_by_label("Status", exact=True).select_option("CANCELLED")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"status=CANCELLED"))
    cancelled = scene.counts["CANCELLED"] + 1
    expect(table.locator("tbody tr[data-order-id]")).to_have_count(cancelled)
    expect(table.locator("tbody .status")).to_have_text(["CANCELLED"] * cancelled)

    page.get_by_label("High value", exact=True).select_option("true")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"is_high_value=true"))
    expect(table.locator("tbody .badge")).to_have_count(
        table.locator("tbody tr[data-order-id]").count()
    )


def test_a_viewer_sees_the_figures_and_no_buttons(scene, live_server, browser):
    page = open_page(browser, width=390)
    log_in(page, live_server.url, scene.viewer)
    queue = page.get_by_test_id("approval-queue")
    sync_api.expect(queue.locator("tr[data-order-id]")).to_have_count(len(scene.pending))
    sync_api.expect(page.get_by_test_id("approve")).to_have_count(0)
    sync_api.expect(page.get_by_test_id("cancel")).to_have_count(0)
    # Readable at 390 px: nothing wider than the screen but the tables' own scrollers.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
