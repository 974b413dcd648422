"""API tests run each request's on_commit hooks when the request ends, as its COMMIT would."""

import pytest
from django.test import TestCase
from rest_framework.test import APIClient


class CommittingAPIClient(APIClient):
    def request(self, **kwargs):
        with TestCase.captureOnCommitCallbacks(execute=True):
            return super().request(**kwargs)


@pytest.fixture
def api_client(staff) -> APIClient:
    client = CommittingAPIClient()
    client.force_authenticate(staff)
    return client


@pytest.fixture
def place(place):
    """Orders placed here are projected at once, as after a real COMMIT."""

    def place_and_project(*quantities):
        with TestCase.captureOnCommitCallbacks(execute=True):
            return place(*quantities)

    return place_and_project
