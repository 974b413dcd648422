"""The command endpoints over HTTP: statuses, the envelope, every code."""

import uuid

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from orders_write.models import Customer, Event, Order, OrderStatus
from tests.factories import ProductFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", ["/orders", "/orders/"])
def test_place_order(api_client, order_body, path, staff):
    response = api_client.post(path, order_body, format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["success"] is True
    data = body["data"]
    order = Order.objects.get(pk=data["order_id"])
    assert data["status"] == "PENDING"
    assert data["total_cents"] == order.total_cents == 2 * 1_999 + 50_000
    assert data["formatted_total"] == "$539.98"
    assert data["item_count"] == 2
    assert data["version"] == 1
    assert data["_estimated_fields"] is True
    assert order.placed_by == staff


def test_approve_and_cancel(api_client, place, staff):
    order = place()

    approved = api_client.post(f"/orders/{order.id}/approve", format="json")
    assert approved.status_code == 200, approved.json()
    assert approved.json()["data"]["status"] == "APPROVED"
    assert approved.json()["data"]["version"] == 2

    cancelled = api_client.post(
        f"/orders/{order.id}/cancel/", {"reason": "customer asked"}, format="json"
    )
    assert cancelled.status_code == 200, cancelled.json()
    assert cancelled.json()["data"]["status"] == "CANCELLED"
    order.refresh_from_db()
    assert (order.approved_by, order.cancelled_by, order.cancel_reason) == (
        staff,
        staff,
        "customer asked",
    )


def test_approver_is_the_authenticated_user_never_a_body_field(api_client, place, staff):
    order = place()
    someone_else = UserFactory()
    response = api_client.post(
        f"/orders/{order.id}/approve", {"approved_by": someone_else.pk}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert "approved_by" in response.json()["details"]
    order.refresh_from_db()
    assert order.status == OrderStatus.PENDING


def assert_error(response, status, code):
    assert response.status_code == status, response.content
    body = response.json()
    assert body["success"] is False
    assert body["code"] == code
    assert body["error"]
    return body


@pytest.mark.parametrize(
    ("change", "code"),
    [
        (lambda body, ctx: body.update(customer_id=10**9), "CUSTOMER_NOT_FOUND"),
        (
            lambda body, ctx: Customer.objects.filter(pk=body["customer_id"]).update(
                status="suspended"
            ),
            "ACCOUNT_SUSPENDED",
        ),
        (lambda body, ctx: body.update(payment_method_id=10**9), "PAYMENT_METHOD_INVALID"),
        (lambda body, ctx: body.update(items=[]), "EMPTY_ORDER"),
        (lambda body, ctx: body["items"][0].update(product_id=10**9), "PRODUCT_NOT_FOUND"),
        (
            lambda body, ctx: body["items"][0].update(
                product_id=ProductFactory(is_available=False).pk
            ),
            "PRODUCT_UNAVAILABLE",
        ),
        (lambda body, ctx: body["items"][0].update(quantity=0), "INVALID_QUANTITY"),
        (lambda body, ctx: body["items"][0].update(quantity=-3), "INVALID_QUANTITY"),
        (lambda body, ctx: body["items"][0].update(quantity=10**12), "INVALID_QUANTITY"),
        (lambda body, ctx: body["items"][0].update(price_cents=1), "PRICE_MISMATCH"),
        (lambda body, ctx: body["items"][1].update(quantity=2_001), "ORDER_TOO_LARGE"),
        (lambda body, ctx: body["items"].append(dict(body["items"][0])), "DUPLICATE_PRODUCT"),
        (
            lambda body, ctx: body.update(
                items=[{"product_id": n, "quantity": 1} for n in range(1, 102)]
            ),
            "TOO_MANY_LINES",
        ),
    ],
)
def test_rule_rejections_are_422_and_write_nothing(api_client, order_body, change, code):
    change(order_body, None)
    response = api_client.post("/orders", order_body, format="json")
    assert_error(response, 422, code)
    assert Order.objects.count() == 0
    assert Event.objects.count() == 0


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "customer_id"),
        ({"customer_id": "abc"}, "customer_id"),
        ({"payment_method_id": None}, "payment_method_id"),
        ({"items": "nope"}, "items"),
        ({"items": [{"product_id": 1}]}, "items"),
        ({"items": [{"product_id": 1, "quantity": "many"}]}, "items"),
        ({"items": [{"product_id": 1, "quantity": 1.5}]}, "items"),
        ({"customer_id": 2**63}, "customer_id"),
        ({"discount": 10}, "discount"),
    ],
)
def test_malformed_input_is_a_400_with_field_details(api_client, order_body, payload, field):
    body = {**order_body, **payload} if payload else {}
    response = api_client.post("/orders", body, format="json")
    error = assert_error(response, 400, "VALIDATION_ERROR")
    assert field in error["details"]
    assert Order.objects.count() == 0


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b'"a string"'])
def test_a_body_that_is_not_an_object_is_a_400(api_client, raw):
    response = api_client.post("/orders", raw, content_type="application/json")
    assert_error(response, 400, "VALIDATION_ERROR")


def test_unknown_order_is_404(api_client):
    for path in (f"/orders/{uuid.uuid4()}/approve", "/orders/not-a-uuid/approve"):
        assert_error(api_client.post(path, format="json"), 404, "ORDER_NOT_FOUND")
    response = api_client.post(f"/orders/{uuid.uuid4()}/cancel", {"reason": "x"}, format="json")
    assert_error(response, 404, "ORDER_NOT_FOUND")


def test_invalid_transition_is_409(api_client, place):
    order = place()
    api_client.post(f"/orders/{order.id}/cancel", {"reason": "x"}, format="json")
    response = api_client.post(f"/orders/{order.id}/approve", format="json")
    assert_error(response, 409, "INVALID_TRANSITION")


@pytest.mark.parametrize("body", [{}, {"reason": ""}, {"reason": "   "}])
def test_cancel_without_a_reason_is_422(api_client, place, body):
    order = place()
    response = api_client.post(f"/orders/{order.id}/cancel", body, format="json")
    assert_error(response, 422, "REASON_REQUIRED")
    assert Order.objects.get(pk=order.id).status == OrderStatus.PENDING


def test_anonymous_is_401(db, place):
    order = place()
    client = APIClient()
    assert_error(client.post("/orders", {}, format="json"), 401, "NOT_AUTHENTICATED")
    assert_error(client.post(f"/orders/{order.id}/approve"), 401, "NOT_AUTHENTICATED")
    assert_error(client.get("/orders/dashboard"), 401, "NOT_AUTHENTICATED")


@pytest.mark.parametrize(
    ("permission", "method", "path_template"),
    [
        ("orders_write.add_order", "post", "/orders"),
        ("orders_write.approve_order", "post", "/orders/{id}/approve"),
        ("orders_write.cancel_order", "post", "/orders/{id}/cancel"),
        ("orders_read.view_ordersummary", "get", "/orders/dashboard"),
    ],
)
def test_each_endpoint_needs_its_permission(place, permission, method, path_template):
    order = place()
    others = [
        p
        for p in (
            "orders_write.add_order",
            "orders_write.approve_order",
            "orders_write.cancel_order",
            "orders_read.view_ordersummary",
        )
        if p != permission
    ]
    client = APIClient()
    client.force_authenticate(UserFactory(permissions=others))
    path = path_template.format(id=order.id)
    response = getattr(client, method)(path, {"reason": "x"}, format="json")
    assert_error(response, 403, "PERMISSION_DENIED")
    assert Order.objects.get(pk=order.id).status == OrderStatus.PENDING


def test_token_authentication(order_body):
    user = UserFactory(is_superuser=True)
    token = Token.objects.create(user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    response = client.post("/orders", order_body, format="json")
    assert response.status_code == 201, response.json()
    assert Order.objects.get().placed_by == user

    client.credentials(HTTP_AUTHORIZATION="Token wrong")
    assert_error(client.post("/orders", order_body, format="json"), 401, "AUTHENTICATION_FAILED")


def test_get_on_a_command_endpoint_is_405(api_client):
    assert_error(api_client.get("/orders"), 405, "METHOD_NOT_ALLOWED")
