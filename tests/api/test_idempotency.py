"""Idempotency keys: a retry replays the first answer and writes nothing."""

import datetime
import io
import json

import pytest
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from orders_write import bus, handlers
from orders_write.commands import PlaceOrder
from orders_write.models import Customer, Event, IdempotencyKey, Order, OrderStatus
from tests.conftest import ALL_ORDER_PERMISSIONS, CommittingAPIClient
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def post(client, path, body=None, *, key=None, **extra):
    if key is not None:
        extra["HTTP_IDEMPOTENCY_KEY"] = key
    return client.post(path, body, format="json", **extra)


def test_a_retried_order_is_placed_once(api_client, order_body):
    first = post(api_client, "/orders", order_body, key="order-1")
    retry = post(api_client, "/orders", order_body, key="order-1")

    assert first.status_code == retry.status_code == 201
    assert retry.content == first.content  # byte for byte, not only equal JSON
    assert retry["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert Order.objects.count() == 1
    (event,) = Event.objects.all()
    assert str(event.stream_id) == first.json()["data"]["order_id"]
    assert event.metadata["idempotency_key"] == "order-1"


def test_the_same_request_spelled_differently_is_still_the_same(api_client, order_body):
    first = post(api_client, "/orders", order_body, key="k")
    reordered = json.dumps(dict(reversed(list(order_body.items()))), indent=2)
    retry = api_client.post(
        "/orders/", reordered, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k"
    )
    assert retry.status_code == 201
    assert retry["Idempotent-Replayed"] == "true"
    assert retry.json() == first.json()
    assert Order.objects.count() == 1


def test_without_a_key_every_request_runs(api_client, order_body):
    post(api_client, "/orders", order_body)
    post(api_client, "/orders", order_body)
    assert Order.objects.count() == 2
    assert IdempotencyKey.objects.count() == 0
    assert Event.objects.filter(metadata__idempotency_key=None).count() == 2


def test_the_same_key_for_another_body_is_refused(api_client, order_body):
    first = post(api_client, "/orders", order_body, key="k")
    other = {**order_body, "items": order_body["items"][:1]}

    refused = post(api_client, "/orders", other, key="k")

    assert refused.status_code == 422
    assert refused.json()["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert "Idempotent-Replayed" not in refused
    assert Order.objects.count() == 1
    # The key still answers its own request.
    assert post(api_client, "/orders", order_body, key="k").content == first.content


def test_the_same_key_on_another_endpoint_is_refused(api_client, order_body, place):
    post(api_client, "/orders", order_body, key="k")
    order = place()
    refused = post(api_client, f"/orders/{order.id}/approve", key="k")
    assert (refused.status_code, refused.json()["code"]) == (422, "IDEMPOTENCY_KEY_REUSED")
    assert Order.objects.get(pk=order.id).status == OrderStatus.PENDING


def test_keys_are_scoped_per_user(api_client, order_body):
    post(api_client, "/orders", order_body, key="shared")
    colleague = CommittingAPIClient()
    colleague.force_authenticate(UserFactory(permissions=ALL_ORDER_PERMISSIONS))

    response = post(colleague, "/orders", order_body, key="shared")

    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response
    assert Order.objects.count() == 2


def test_a_refusal_by_a_rule_is_stored_and_replayed(api_client, order_body, customer):
    customer.status = Customer.Status.SUSPENDED
    customer.save()
    refused = post(api_client, "/orders", order_body, key="k")
    assert (refused.status_code, refused.json()["code"]) == (422, "ACCOUNT_SUSPENDED")

    customer.status = Customer.Status.ACTIVE
    customer.save()
    retry = post(api_client, "/orders", order_body, key="k")

    # The key's answer is the first one; a new attempt needs a new key.
    assert retry.status_code == 422
    assert retry["Idempotent-Replayed"] == "true"
    assert retry.content == refused.content
    assert Order.objects.count() == 0
    assert post(api_client, "/orders", order_body, key="k2").status_code == 201


def test_a_retried_approval_replays_instead_of_conflicting(api_client, place):
    order = place()
    first = post(api_client, f"/orders/{order.id}/approve", key="approve-1")
    retry = post(api_client, f"/orders/{order.id}/approve", key="approve-1")
    unkeyed = post(api_client, f"/orders/{order.id}/approve")

    assert first.status_code == retry.status_code == 200
    assert retry.content == first.content
    assert retry["Idempotent-Replayed"] == "true"
    assert (unkeyed.status_code, unkeyed.json()["code"]) == (409, "INVALID_TRANSITION")
    assert Event.objects.filter(stream_id=order.id).count() == 2


def test_a_retried_cancellation_with_another_reason_is_refused(api_client, place):
    order = place()
    assert post(api_client, f"/orders/{order.id}/cancel", {"reason": "a"}, key="c").status_code == (
        200
    )
    refused = post(api_client, f"/orders/{order.id}/cancel", {"reason": "b"}, key="c")
    assert (refused.status_code, refused.json()["code"]) == (422, "IDEMPOTENCY_KEY_REUSED")
    assert Order.objects.get(pk=order.id).cancel_reason == "a"


def test_a_server_error_is_never_stored(api_client, order_body, monkeypatch):
    monkeypatch.delitem(bus._handlers, PlaceOrder)  # dispatch answers NO_HANDLER: a 500
    failed = post(api_client, "/orders", order_body, key="k")
    assert (failed.status_code, failed.json()["code"]) == (500, "NO_HANDLER")
    assert IdempotencyKey.objects.count() == 0
    monkeypatch.undo()

    retry = post(api_client, "/orders", order_body, key="k")

    assert retry.status_code == 201
    assert "Idempotent-Replayed" not in retry
    assert Order.objects.count() == 1


def test_a_crash_in_the_command_rolls_the_key_back_too(staff, order_body, monkeypatch):
    def crash(total_cents):
        raise RuntimeError("disk on fire")

    client = CommittingAPIClient(raise_request_exception=False)
    client.force_authenticate(staff)
    monkeypatch.setattr(handlers.rules, "check_order_total", crash)
    failed = post(client, "/orders", order_body, key="k")
    assert (failed.status_code, failed.json()["code"]) == (500, "SERVER_ERROR")
    assert (IdempotencyKey.objects.count(), Order.objects.count()) == (0, 0)
    monkeypatch.undo()

    assert post(client, "/orders", order_body, key="k").status_code == 201


def test_an_expired_key_is_new_again(api_client, order_body, settings):
    settings.ORDERS_IDEMPOTENCY_KEY_TTL = datetime.timedelta(hours=1)
    post(api_client, "/orders", order_body, key="k")
    IdempotencyKey.objects.update(created_at=timezone.now() - datetime.timedelta(minutes=61))

    again = post(api_client, "/orders", order_body, key="k")

    assert again.status_code == 201
    assert "Idempotent-Replayed" not in again
    assert Order.objects.count() == 2
    assert IdempotencyKey.objects.count() == 1
    # ...and then it replays for the new hour.
    assert post(api_client, "/orders", order_body, key="k")["Idempotent-Replayed"] == "true"


def test_a_key_just_inside_its_lifetime_still_replays(api_client, order_body, settings):
    settings.ORDERS_IDEMPOTENCY_KEY_TTL = datetime.timedelta(hours=1)
    post(api_client, "/orders", order_body, key="k")
    IdempotencyKey.objects.update(created_at=timezone.now() - datetime.timedelta(minutes=59))
    assert post(api_client, "/orders", order_body, key="k")["Idempotent-Replayed"] == "true"
    assert Order.objects.count() == 1


@pytest.mark.parametrize(
    "key",
    ["", "x" * 256, "two words", "tab\tkey", "bell\x07", "caf\xe9"],
    ids=["empty", "too long", "space", "tab", "control", "non-ASCII"],
)
def test_a_malformed_key_is_a_400(api_client, order_body, key):
    response = post(api_client, "/orders", order_body, key=key)
    assert (response.status_code, response.json()["code"]) == (400, "IDEMPOTENCY_KEY_INVALID")
    assert Order.objects.count() == IdempotencyKey.objects.count() == 0


def test_the_longest_visible_ascii_key_is_fine(api_client, order_body):
    key = "A:b~!{}" + "x" * 248
    assert len(key) == 255
    assert post(api_client, "/orders", order_body, key=key).status_code == 201
    assert IdempotencyKey.objects.get().key == key


def test_validation_errors_are_not_stored(api_client, order_body):
    bad = post(api_client, "/orders", {**order_body, "customer_id": "x"}, key="k")
    assert bad.status_code == 400
    assert IdempotencyKey.objects.count() == 0
    # The client fixes the body and retries with the same key: it runs.
    assert post(api_client, "/orders", order_body, key="k").status_code == 201


def test_replays_still_need_authentication_and_permission(api_client, order_body):
    post(api_client, "/orders", order_body, key="k")
    anonymous = post(APIClient(), "/orders", order_body, key="k")
    assert anonymous.status_code == 401


def test_purge_deletes_only_expired_keys(staff, settings):
    settings.ORDERS_IDEMPOTENCY_KEY_TTL = datetime.timedelta(hours=24)
    now = timezone.now()
    for name, age in [("old", 25), ("older", 100), ("fresh", 23)]:
        IdempotencyKey.objects.create(
            user=staff,
            key=name,
            fingerprint="f" * 64,
            created_at=now - datetime.timedelta(hours=age),
        )

    dry = io.StringIO()
    call_command("purge_idempotency_keys", "--dry-run", stdout=dry)
    assert "2 idempotency key(s)" in dry.getvalue()
    assert IdempotencyKey.objects.count() == 3

    out = io.StringIO()
    call_command("purge_idempotency_keys", stdout=out)
    assert "Deleted 2 idempotency key(s)" in out.getvalue()
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["fresh"]
