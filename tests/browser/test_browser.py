"""End to end in headless Chromium: a clerk approves two pending orders in the admin.

Drives Debian's system Chromium through Playwright (no browser is ever downloaded)
against pytest-django's live server, then asks the dashboard API, with a token,
whether the read model says APPROVED.
"""

from __future__ import annotations

import os
import re
import shutil
from types import SimpleNamespace

import pytest
from django.urls import reverse
from rest_framework.authtoken.models import Token

from orders_write.bus import dispatch
from orders_write.commands import ApproveOrder
from tests.factories import UserFactory

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (it is in the dev extra)"
)

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
# As root in a container Chromium needs --no-sandbox; the rest keeps it off the network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "correct horse battery staple"  # tests.factories.UserFactory's

pytestmark = [
    # The live server's thread must see the test's rows, and its commands must commit.
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not os.access(CHROMIUM, os.X_OK),
        reason=f"no Chromium at {CHROMIUM} (apt-get install chromium; .ci/run does as root)",
    ),
]


@pytest.fixture
def scene(transactional_db, place, actor):
    """A clerk who may approve, with an API token; three pending orders and an approved one.

    Made before the browser starts, and the test itself makes no ORM call:
    Playwright's sync API keeps an asyncio loop running in this thread, and Django
    refuses ORM calls there (forcing them with DJANGO_ALLOW_ASYNC_UNSAFE opens a
    second connection that nobody closes, and PostgreSQL then cannot drop the
    test database).
    """
    clerk = UserFactory(
        username="clerk-e2e",
        is_staff=True,
        permissions=["orders_write.approve_order", "orders_read.view_ordersummary"],
    )
    first, second, left_pending, already_approved = place(), place(), place(), place()
    assert dispatch(ApproveOrder(order_id=already_approved.pk), actor=actor).success
    return SimpleNamespace(
        clerk=clerk,
        token=Token.objects.create(user=clerk).key,
        first=first,
        second=second,
        left_pending=left_pending,
        already_approved=already_approved,
    )


@pytest.fixture
def playwright(scene):
    # Depends on `scene` so that the rows exist before the loop starts.
    with sync_api.sync_playwright() as playwright:
        yield playwright


@pytest.fixture
def page(playwright, tmp_path):
    context = playwright.chromium.launch_persistent_context(
        tmp_path / "chromium-profile",  # a fresh profile for every run
        executable_path=CHROMIUM,
        headless=True,
        args=CHROMIUM_ARGS,
    )
    context.set_default_timeout(15_000)
    try:
        yield context.pages[0] if context.pages else context.new_page()
    finally:
        context.close()


def test_clerk_approves_two_pending_orders_and_the_dashboard_follows(
    scene, live_server, playwright, page
):
    # No ORM from here on: the browser and the API are the only ways in.
    first, second, left_pending = scene.first, scene.second, scene.left_pending
    expect = sync_api.expect

    # Log in.
    page.goto(f"{live_server.url}{reverse('admin:index')}")
    page.get_by_label("Username").fill(scene.clerk.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_title(re.compile("Site administration"))

    # The orders, then the pending ones only.
    page.get_by_role("link", name="Orders", exact=True).click()
    page.locator("#changelist-filter").get_by_role("link", name="Pending").click()
    expect(page).to_have_url(re.compile(r"status__exact=PENDING"))
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(3)
    expect(page.locator(f'input.action-select[value="{scene.already_approved.pk}"]')).to_have_count(
        0
    )

    # Approve two of them with the action.
    for order in (first, second):
        page.locator(f'input.action-select[value="{order.pk}"]').check()
    page.locator('select[name="action"]').select_option("approve_orders")
    page.get_by_role("button", name="Go").click()

    expect(page.locator("ul.messagelist li.success")).to_have_text("2 orders approved.")
    expect(page.locator("ul.messagelist li.error")).to_have_count(0)
    # Still filtered on pending: only the third one is left.
    expect(rows).to_have_count(1)
    expect(page.locator(f'input.action-select[value="{left_pending.pk}"]')).to_have_count(1)

    # The dashboard API (the read model), with a token, reports them APPROVED.
    api = playwright.request.new_context(
        base_url=live_server.url,
        extra_http_headers={"Authorization": f"Token {scene.token}"},
    )
    try:
        approved = api.get("/orders/dashboard", params={"status": "APPROVED"})
        assert approved.ok, approved.text()
        assert {row["order_id"] for row in approved.json()["results"]} == {
            str(first.pk),
            str(second.pk),
            str(scene.already_approved.pk),
        }
        pending = api.get(f"/orders/dashboard/{left_pending.pk}")
        assert pending.ok, pending.text()
        assert pending.json()["status"] == "PENDING"
    finally:
        api.dispose()
