"""API tests run each request's on_commit hooks when the request ends, as its COMMIT would."""

import pytest
from rest_framework.test import APIClient

from tests.conftest import CommittingAPIClient, projecting


@pytest.fixture
def api_client(staff) -> APIClient:
    client = CommittingAPIClient()
    client.force_authenticate(staff)
    return client


@pytest.fixture
def place(place):
    """Orders placed here are projected at once, as after a real COMMIT."""
    return projecting(place)


@pytest.fixture
def order_body(payment_method, products) -> dict:
    """A valid ``POST /orders`` body: two lines, one with the catalog price stated."""
    return {
        "customer_id": payment_method.customer_id,
        "payment_method_id": payment_method.pk,
        "items": [
            {"product_id": products[0].pk, "quantity": 2},
            {"product_id": products[1].pk, "quantity": 1, "price_cents": 50_000},
        ],
    }
