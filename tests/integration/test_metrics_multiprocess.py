"""`make serve`'s gunicorn config: metrics added up across workers, tracing per worker."""

import os
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import databases_for_subprocess
from tests.integration.test_serve_proxy import free_port, read_response, stop

ROOT = Path(__file__).resolve().parents[2]
TOKEN = secrets.token_urlsafe(16)
REQUESTS = 12


@pytest.fixture
def environment():
    """What the server is started with (a test adds to it before asking for the server)."""
    return {}


@pytest.fixture
def two_workers(tmp_path, transactional_db, environment):
    """gunicorn (two sync workers, `make serve`'s config file) on the test database.

    The database is committed to (transactional_db): the scrape reads the checkpoints.
    """
    port = free_port()
    log = tmp_path / "gunicorn.log"
    environment = {
        **os.environ,
        **databases_for_subprocess(),
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "LOG_LEVEL": "WARNING",
        "METRICS_BEARER_TOKEN": TOKEN,
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
        **environment,
    }
    command = [
        str(Path(sys.executable).with_name("gunicorn")),
        "config.wsgi",
        "--config",
        str(ROOT / "config" / "gunicorn.py"),
        "--workers",
        "2",
        "--bind",
        f"127.0.0.1:{port}",
    ]
    with log.open("w") as output:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop() ends all of it
        )
    try:
        wait_for_workers(port, process, log)
        yield port, process, log
    finally:
        stop(process)


def connect(port):
    return socket.create_connection(("127.0.0.1", port), timeout=10)


def get(port, path, headers=b""):
    sock = connect(port)
    sock.sendall(b"GET " + path + b" HTTP/1.0\r\nHost: 127.0.0.1\r\n" + headers + b"\r\n")
    return read_response(sock, timeout=10)


def wait_for_workers(port, process, log):
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        try:
            if get(port, b"/health")[0] == 200:
                return  # the first /health answered
        except OSError:
            pass  # not listening yet
        time.sleep(0.05)  # a poll interval
    pytest.fail(f"gunicorn did not answer within 60 s:\n{log.read_text()}")


def health_answers(port) -> float:
    status, body = get(port, b"/metrics", b"Authorization: Bearer " + TOKEN.encode() + b"\r\n")
    assert status == 200, body
    return sum(
        sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
        if sample.name == "django_http_responses_total_by_status_view_method_total"
        and sample.labels["view"] == "health"
    )


def test_two_workers_counts_add_up(two_workers):
    port, _process, _log = two_workers
    # A sync worker serves one connection at a time: this one, never finished, holds a
    # worker, so the other serves every request meanwhile.
    held = connect(port)
    held.sendall(b"GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n")
    for _ in range(REQUESTS):
        assert get(port, b"/health")[0] == 200
    held.sendall(b"\r\n")  # now the first worker answers it too
    assert read_response(held, timeout=10)[0] == 200

    # Every /health answered since the start, by either worker: each worker alone
    # counted only its part (the held request, or the others).
    assert health_answers(port) == 1 + REQUESTS + 1


@pytest.mark.parametrize(
    "environment", [{"OTEL_TRACES_EXPORTER": "console", "OTEL_SERVICE_NAME": "orders-test"}]
)
def test_each_worker_traces_after_the_fork(two_workers):
    port, process, log = two_workers
    assert get(port, b"/health")[0] == 200

    stop(process)  # a worker's batch processor exports what is left as it exits

    spans = log.read_text()  # the console exporter prints each span as JSON
    # Both /health requests (the first one answered, and this one), from the workers.
    assert spans.count('"http.route": "^health/?$"') == 2
    assert '"service.name": "orders-test"' in spans
