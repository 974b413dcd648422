"""/health: the status for anyone, the details for those allowed to read the read model."""

import pytest
from django.db import OperationalError, connection
from drf_spectacular.generators import SchemaGenerator
from rest_framework import serializers
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from common import health
from common.health import HEALTH_DETAILS_PERMISSION
from orders_write.models import Event
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def monitor():
    """A user made for monitoring: the health details' permission and nothing else."""
    return UserFactory(username="monitor", permissions=[HEALTH_DETAILS_PERMISSION])


def token_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def test_only_users_allowed_to_read_the_read_model_get_the_details(monitor, place):
    place()  # an event and a projection: their counts must not show to anyone else
    session = APIClient()
    session.force_login(monitor)
    callers = {
        "anonymous": APIClient(),
        "a user without the permission": token_client(UserFactory()),
        "the monitor, by token": token_client(monitor),
        "the monitor, by session": session,
    }

    answers = {name: caller.get("/health") for name, caller in callers.items()}

    assert {name: answer.status_code for name, answer in answers.items()} == dict.fromkeys(
        callers, 200
    )
    assert {name: sorted(answer.json()) for name, answer in answers.items()} == {
        "anonymous": ["status"],
        "a user without the permission": ["status"],
        "the monitor, by token": ["database", "databases", "projections", "status"],
        "the monitor, by session": ["database", "databases", "projections", "status"],
    }


def test_the_details(monitor, place):
    place()
    body = token_client(monitor).get("/health").json()
    assert (body["status"], body["database"]) == ("ok", "ok")
    lag = body["projections"]["order_summary"]
    assert lag["head_position"] == Event.objects.get().position
    # No catch-up pass has run, but the inline path applied the event: no lag.
    assert (lag["lag_events"], lag["dead_letters"]) == (0, 0)


def test_bad_credentials_are_refused():
    response = APIClient().get("/health", HTTP_AUTHORIZATION="Token not-a-token")
    assert response.status_code == 401
    assert response.json()["code"] == "AUTHENTICATION_FAILED"


def refuse(*args, **kwargs):
    raise OperationalError("connection refused")


@pytest.mark.parametrize("caller", ["anonymous", "monitor"])
def test_a_lost_database_is_a_503_for_every_caller(monitor, caller, monkeypatch):
    """The token lookup fails too: authentication must not turn the 503 into a 500."""
    client = APIClient() if caller == "anonymous" else token_client(monitor)
    monkeypatch.setattr(connection, "cursor", refuse)  # every query fails from here on
    response = client.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert (body["status"], body["database"], body["databases"]["default"]) == (
        "unavailable",
        "error",
        "error",
    )


def test_an_app_adds_a_detail_by_registering_it_the_view_names_no_app(monitor, monkeypatch):
    """``common.health.register``: the detail is in the 200 and in its schema."""
    detail = health.HealthDetail(
        "answer", field=lambda: serializers.IntegerField(required=False), read=lambda: 42
    )
    monkeypatch.setattr(health, "_details", dict(health._details))  # undone after the test
    health.register(detail)

    body = token_client(monitor).get("/health").json()
    schema = SchemaGenerator().get_schema(request=None, public=True)

    assert (body["answer"], "projections" in body) == (42, True)
    properties = schema["components"]["schemas"]["Health"]["properties"]
    assert list(properties) == ["status", "database", "databases", "projections", "answer"]
