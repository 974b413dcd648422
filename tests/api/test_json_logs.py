"""LOG_FORMAT=json: a JSON object per line with the request id, user, command, outcome."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from rest_framework.authtoken.models import Token

from tests.conftest import ALL_ORDER_PERMISSIONS, databases_for_subprocess
from tests.factories import UserFactory

ROOT = Path(__file__).resolve().parents[2]

# Requests made in a fresh process, so that LOG_FORMAT is read as at start-up.
SCRIPT = """
import json, sys
import django
django.setup()
from django.test import Client
client = Client(HTTP_HOST="127.0.0.1")
token = sys.argv[1]
client.post(
    "/orders",
    json.loads(sys.argv[2]),
    content_type="application/json",
    HTTP_AUTHORIZATION="Token " + token,
    HTTP_X_REQUEST_ID="req-json-1",
)
client.get("/health%0d%0a2026-01-01 INFO forged")
"""


def run_requests(log_format, token, body):
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        **databases_for_subprocess(),
        "LOG_FORMAT": log_format,
        "LOG_LEVEL": "INFO",
    }
    return subprocess.run(
        [sys.executable, "-c", SCRIPT, token, json.dumps(body)],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    ).stderr.splitlines()


@pytest.fixture
def token(transactional_db):
    user = UserFactory(username="clerk-json", permissions=ALL_ORDER_PERMISSIONS)
    return Token.objects.create(user=user).key


@pytest.fixture
def body(payment_method, products):
    return {
        "customer_id": payment_method.customer_id,
        "payment_method_id": payment_method.pk,
        "items": [{"product_id": products[0].pk, "quantity": 1}],
    }


@pytest.mark.django_db(transaction=True)
def test_json_lines_carry_the_request_the_user_the_command_and_its_outcome(token, body):
    lines = [json.loads(line) for line in run_requests("json", token, body)]

    [placed] = [line for line in lines if line.get("path") == "/orders"]
    assert placed["request_id"] == "req-json-1"
    assert (placed["user"], placed["command"], placed["outcome"]) == (
        "clerk-json",
        "PlaceOrder",
        "ok",
    )
    assert (placed["method"], placed["status"], placed["logger"]) == (
        "POST",
        201,
        "config.requests",
    )
    assert placed["duration_ms"] >= 0
    # The client's CR LF stays inside its JSON string: no forged line.
    [probe] = [line for line in lines if line.get("path", "").startswith("/health")]
    assert probe["path"] == "/health\r\n2026-01-01 INFO forged"
    assert probe["user"] == ""


@pytest.mark.django_db(transaction=True)
def test_the_default_stays_one_readable_line_per_request(token, body):
    lines = run_requests("plain", token, body)

    access = [line for line in lines if " config.requests " in line]
    assert len(access) == 2
    assert access[0].endswith("ms") and "[req-json-1] POST /orders 201 " in access[0]
    assert "/health\\r\\n2026-01-01\\x20INFO\\x20forged" in access[1]
