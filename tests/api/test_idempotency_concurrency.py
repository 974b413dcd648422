"""Two requests with one Idempotency-Key at once: the command runs once (PostgreSQL).

The first request is held inside its transaction, after it has inserted its key row,
by a row lock on the customer that PlaceOrder's handler needs (taken here by a
third connection). The second request's INSERT of the same key then waits for the
first transaction, which the tests observe in pg_stat_activity before letting the
first one go. No sleeps decide the outcome: each step waits for a visible state.
"""

import threading

import pytest
from django.db import transaction
from rest_framework.test import APIClient

from orders_write import handlers
from orders_write.models import Customer, Event, IdempotencyKey, Order
from tests.conftest import requires_postgres
from tests.threads import InThread, backends_waiting_for_locks, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), requires_postgres]


class RowLock:
    """A row lock on the customer, held by another connection until released."""

    def __init__(self, customer):
        self.locked, self.released = threading.Event(), threading.Event()
        self.before_commit = None
        self.holder = InThread(lambda: self.hold(customer))

    def hold(self, customer):
        with transaction.atomic():
            Customer.objects.select_for_update().get(pk=customer.pk)
            self.locked.set()
            assert self.released.wait(30)
            if self.before_commit:
                self.before_commit()

    def release(self, before_commit=None):
        """Commit (after running ``before_commit`` in the lock's transaction)."""
        self.before_commit = before_commit
        self.released.set()
        self.holder.outcome()


@pytest.fixture
def customer_lock(customer):
    lock = RowLock(customer)
    lock.holder.start()
    assert lock.locked.wait(10)
    yield lock
    lock.released.set()
    lock.holder.outcome()


def placer(staff, body, key):
    def place():
        client = APIClient(raise_request_exception=False)
        client.force_authenticate(staff)
        return client.post("/orders", body, format="json", HTTP_IDEMPOTENCY_KEY=key)

    return place


def start_two_with_one_key(staff, body, key, *, first_name="first"):
    """Start two requests with ``key``: the first held on the customer, the second
    waiting for the first's key row."""
    first = InThread(placer(staff, body, key))
    first.name = first_name
    first.start()
    wait_until(lambda: backends_waiting_for_locks() == 1)
    second = InThread(placer(staff, body, key))
    second.start()
    wait_until(lambda: backends_waiting_for_locks() == 2)
    return first, second


def test_the_second_request_waits_for_the_first_and_replays_it(staff, order_body, customer_lock):
    first, second = start_two_with_one_key(staff, order_body, "same")

    customer_lock.release()
    first_response, second_response = first.outcome(), second.outcome()

    assert first_response.status_code == second_response.status_code == 201
    assert "Idempotent-Replayed" not in first_response
    assert second_response["Idempotent-Replayed"] == "true"
    assert second_response.content == first_response.content
    assert Order.objects.count() == 1
    assert Event.objects.count() == 1
    assert IdempotencyKey.objects.count() == 1


@pytest.mark.parametrize("wait_ms", [200, 0])
def test_a_second_request_that_waits_too_long_gets_409(
    staff, order_body, customer_lock, settings, wait_ms
):
    settings.ORDERS_IDEMPOTENCY_WAIT_MS = wait_ms  # 0: answer at once, never wait forever
    first = InThread(placer(staff, order_body, "slow"))
    first.start()
    wait_until(lambda: backends_waiting_for_locks() == 1)

    second = placer(staff, order_body, "slow")()

    assert second.status_code == 409
    assert second.json()["code"] == "IDEMPOTENCY_KEY_IN_PROGRESS"
    assert Order.objects.count() == 0
    # The first request was unaffected by the second's lock timeout: it still waits
    # for the customer (longer than the second's wait by now) and then succeeds.
    assert first.is_alive()
    customer_lock.release()
    assert first.outcome().status_code == 201
    retry = placer(staff, order_body, "slow")()
    assert (retry.status_code, retry["Idempotent-Replayed"]) == (201, "true")
    assert Order.objects.count() == 1


def test_a_refusal_of_the_first_is_replayed_to_the_second(
    staff, order_body, customer_lock, customer
):
    first, second = start_two_with_one_key(staff, order_body, "k")

    # The customer is suspended in the lock's transaction: the first sees it once
    # the lock is gone, and its refusal is what the key stores.
    customer_lock.release(
        before_commit=lambda: Customer.objects.filter(pk=customer.pk).update(
            status=Customer.Status.SUSPENDED
        )
    )
    first_response, second_response = first.outcome(), second.outcome()

    assert first_response.json()["code"] == "ACCOUNT_SUSPENDED"
    assert second_response.content == first_response.content
    assert second_response["Idempotent-Replayed"] == "true"
    assert Order.objects.count() == 0


def test_if_the_first_crashes_the_waiting_second_runs_the_command(
    staff, order_body, customer_lock, monkeypatch
):
    real_check = handlers.rules.check_order_total

    def crash_in_the_first(total_cents):
        if threading.current_thread().name == "crasher":
            raise RuntimeError("worker died")
        real_check(total_cents)

    monkeypatch.setattr(handlers.rules, "check_order_total", crash_in_the_first)
    first, second = start_two_with_one_key(staff, order_body, "k", first_name="crasher")

    customer_lock.release()
    first_response, second_response = first.outcome(), second.outcome()

    # The 500 rolled back the first's key with everything else; the second's
    # INSERT then went through and it ran the command itself.
    assert first_response.status_code == 500
    assert second_response.status_code == 201
    assert "Idempotent-Replayed" not in second_response
    assert Order.objects.count() == 1
    assert IdempotencyKey.objects.get().response_status == 201
