"""/metrics: our counters, the lag read at scrape time, who may scrape, the alert rules."""

import re
from pathlib import Path

import pytest
import yaml
from django.db import DatabaseError, connection
from prometheus_client.parser import text_string_to_metric_families
from rest_framework.test import APIClient

from orders_read import metrics as metrics_module
from orders_write.bus import dispatch
from orders_write.commands import OrderLine, PlaceOrder
from orders_write.errors import ErrorCode

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "scrape-secret"


@pytest.fixture
def scrape(settings):
    """Read /metrics as a scraper allowed by token; returns {(sample name, labels): value}."""
    settings.METRICS_BEARER_TOKEN = TOKEN

    def read():
        response = APIClient().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
        assert response.status_code == 200
        return {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(response.content.decode())
            for sample in family.samples
        }

    return read


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_commands_and_events_are_counted_by_outcome_and_type(scrape, place, products):
    before = scrape()
    place()
    unknown_customer = PlaceOrder(
        customer_id=0,
        payment_method_id=0,
        items=(OrderLine(product_id=products[0].pk, quantity=1),),
    )
    rejected = dispatch(unknown_customer)
    after = scrape()

    assert rejected.code == ErrorCode.CUSTOMER_NOT_FOUND
    counted = {
        ("orders_commands_total", ("command", "PlaceOrder"), ("outcome", "ok")): 1,
        ("orders_commands_total", ("command", "PlaceOrder"), ("outcome", rejected.code)): 1,
        ("orders_events_appended_total", ("type", "OrderPlaced")): 1,
        ("orders_command_duration_seconds_count", ("command", "PlaceOrder")): 2,
    }
    for (name, *labels), increase in counted.items():
        assert value(after, name, **dict(labels)) - value(before, name, **dict(labels)) == increase


def test_the_lag_and_dead_letters_are_read_at_scrape_time(scrape, place, settings):
    settings.ORDERS_INLINE_PROJECTION = False
    place()
    place()

    samples = scrape()

    assert value(samples, "orders_projection_lag_events", projection="order_summary") == 2
    assert value(samples, "orders_projection_lag_seconds", projection="order_summary") >= 0
    assert value(samples, "orders_projection_dead_letters", projection="order_summary") == 0
    assert ("orders_projection_dead_letters", (("projection", "order_summary"),)) in samples


@pytest.mark.parametrize(
    ("configured", "remote_addr", "authorization", "allowed"),
    [
        ({"DEBUG": False}, "127.0.0.1", "", False),  # production, nothing configured
        ({"DEBUG": True}, "127.0.0.1", "", True),  # development: loopback only
        ({"DEBUG": True}, "::1", "", True),
        ({"DEBUG": True}, "10.0.0.5", "", False),
        ({"METRICS_BEARER_TOKEN": TOKEN}, "10.0.0.5", f"Bearer {TOKEN}", True),
        ({"METRICS_BEARER_TOKEN": TOKEN}, "10.0.0.5", "Bearer wrong", False),
        ({"METRICS_BEARER_TOKEN": TOKEN, "DEBUG": True}, "127.0.0.1", "", False),
        ({"METRICS_ALLOWED_IPS": ["10.0.0.0/8"]}, "10.1.2.3", "", True),
        ({"METRICS_ALLOWED_IPS": ["10.0.0.0/8"]}, "192.168.1.1", "", False),
        ({"METRICS_ALLOWED_IPS": ["10.0.0.0/8"]}, "127.0.0.1", "", False),
    ],
)
def test_who_may_scrape(settings, configured, remote_addr, authorization, allowed):
    settings.METRICS_BEARER_TOKEN, settings.METRICS_ALLOWED_IPS = "", []
    for name, setting in configured.items():
        setattr(settings, name, setting)

    response = APIClient().get(
        "/metrics", REMOTE_ADDR=remote_addr, HTTP_AUTHORIZATION=authorization
    )

    assert response.status_code == (200 if allowed else 403)


def test_every_alert_rule_names_metrics_that_are_exposed(scrape, place):
    place()  # so that every labelled family has a sample
    exposed = {name for name, _labels in scrape()}
    rules = yaml.safe_load((ROOT / "deploy" / "prometheus" / "alerts.yml").read_text())

    named = set()
    for group in rules["groups"]:
        for rule in group["rules"]:
            assert {"alert", "expr", "labels", "annotations"} <= set(rule), rule
            used = set(re.findall(r"\b(?:orders|django)_[a-z_]+\b", rule["expr"]))
            assert used, rule["alert"]
            named |= used

    assert named <= exposed, named - exposed
    assert {"orders_projection_lag_seconds", "orders_projection_dead_letters"} <= named


def test_without_the_database_the_other_metrics_still_scrape(scrape, monkeypatch):
    def unavailable():
        raise DatabaseError("the read database is down")

    monkeypatch.setattr(metrics_module, "all_statuses", unavailable)

    samples = scrape()

    assert not any(name.startswith("orders_projection_") for name, _labels in samples)
    assert any(name.startswith("django_http_") for name, _labels in samples)


def test_the_queries_of_each_database_are_counted(scrape, place):
    """Database basics: every query a command runs is counted under its alias."""
    before = scrape()
    place()
    after = scrape()

    labels = {"alias": "default", "vendor": connection.vendor}
    for name in ("django_db_execute_total", "django_db_query_duration_seconds_count"):
        assert value(after, name, **labels) > value(before, name, **labels), name
