"""Admin tests: each request's on_commit hooks run when it ends, as its COMMIT would.

The test wraps everything in one transaction, so without this the projection
(an on_commit hook) would never run and the read model would never move.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.test import Client
from django.urls import reverse

from orders_read.models import OrderSummary
from orders_write.models import Event, Order
from tests.conftest import CommittingClient, projecting
from tests.factories import UserFactory

CHANGELIST_URL = reverse("admin:orders_write_order_changelist")


@pytest.fixture
def place(place):
    """Orders placed here are projected at once, as after a real COMMIT."""
    return projecting(place)


@pytest.fixture
def login() -> Callable[..., Client]:
    """``login(user)``: a client logged in as ``user`` whose requests commit."""

    def logged_in(user, **client_options) -> Client:
        client = CommittingClient(**client_options)
        client.force_login(user)
        return client

    return logged_in


def staff_user(username: str, *permissions: str):
    return UserFactory(username=username, is_staff=True, permissions=list(permissions))


@pytest.fixture
def approver(db):
    return staff_user("approver", "orders_write.approve_order")


@pytest.fixture
def canceller(db):
    return staff_user("canceller", "orders_write.cancel_order")


@pytest.fixture
def viewer(db):
    return staff_user("viewer", "orders_write.view_order")


@pytest.fixture
def superuser(db):
    return UserFactory(username="boss", is_staff=True, is_superuser=True)


@dataclass(frozen=True)
class Snapshot:
    """What a command would change: status, stream version, events, the read-model row."""

    status: str
    version: int
    events: int
    summary_status: str | None
    summary_version: int | None


def snapshot(order: Order) -> Snapshot:
    order = Order.objects.get(pk=order.pk)
    summary = OrderSummary.objects.filter(pk=order.pk).first()
    return Snapshot(
        status=order.status,
        version=order.version,
        events=Event.objects.filter(stream_id=order.pk).count(),
        summary_status=summary.status if summary else None,
        summary_version=summary.version if summary else None,
    )


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def action_names(response) -> set[str]:
    """The actions the change list offers (none at all: no action form)."""
    form = response.context["action_form"]
    if form is None:
        return set()
    return {name for name, _ in form.fields["action"].choices if name}
