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
