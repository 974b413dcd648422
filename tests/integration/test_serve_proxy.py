"""Slow clients against gunicorn, with and without nginx in front (deploy/serve-proxy).

A gthread worker gives a connection a thread as soon as its first bytes arrive, and
the thread then blocks until the request is whole: a few clients that send one header
line at a time (slowloris) hold every thread, and `/health` waits behind them. nginx
reads each request whole before it passes it on, so the same clients never reach
gunicorn. Both are shown on one server, one worker with two threads, started here
through the script `make serve-proxy` runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import select
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from common.api import error_body
from tests.conftest import databases_for_subprocess

ROOT = Path(__file__).resolve().parents[2]
NGINX = shutil.which("nginx", path=f"{os.environ.get('PATH', '')}{os.pathsep}/usr/sbin")
GUNICORN_THREADS = 2
SLOW_CLIENTS = 12  # as many as `make serve`'s 3 workers x 4 threads
# An answer this late is no answer: a load balancer's health check would have failed.
PROMPTLY = 5.0
# How long the probe waits, in vain, behind the slow clients on gunicorn alone.
HELD = 1.5

pytestmark = pytest.mark.skipif(
    NGINX is None, reason="nginx is not installed (apt-get install nginx; .ci/run does as root)"
)

Connect = Callable[[], socket.socket]


@dataclass
class Served:
    port: int
    gunicorn_socket: Path

    def through_nginx(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=PROMPTLY)

    def to_gunicorn(self) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(PROMPTLY)
        sock.connect(str(self.gunicorn_socket))
        return sock


def send_request(connect: Connect, request: bytes) -> socket.socket:
    sock = connect()
    sock.sendall(request)
    return sock


def health_request() -> bytes:
    return b"GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n"


def read_response(sock: socket.socket, timeout: float = PROMPTLY) -> tuple[int, bytes]:
    """The status and body of an answer with a Content-Length, read within ``timeout``.

    Not to the end of the stream: after refusing a body nginx keeps the connection a
    while, reading what the client might still send (lingering close).
    """
    deadline = time.monotonic() + timeout
    received = bytearray()
    with sock:
        while True:
            head, separator, body = bytes(received).partition(b"\r\n\r\n")
            if separator:
                length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
                if length and len(body) >= int(length[1]):
                    return int(head.split()[1]), body
            sock.settimeout(max(deadline - time.monotonic(), 0.001))
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"closed before a whole answer: {bytes(received)!r}")
            received += chunk


def answered_within(sock: socket.socket, seconds: float) -> bool:
    readable, _, _ = select.select([sock], [], [], seconds)
    return bool(readable)


def still_open(sock: socket.socket) -> bool:
    """True while the server has neither answered nor closed the connection."""
    sock.setblocking(False)
    try:
        return sock.recv(1) != b""
    except BlockingIOError:
        return True
    finally:
        sock.setblocking(True)


@dataclass(frozen=True)
class Trickle:
    """A request a slow client never finishes: its opening, then one piece per interval."""

    opening: bytes
    piece: Callable[[int], bytes]


TRICKLES = {
    "header lines": Trickle(b"GET /health HTTP/1.1\r\n", lambda n: b"X-Slow-%d: 1\r\n" % n),
    # A form post the CSRF check reads: with a well-formed CSRF cookie, Django reads
    # the body (1,000,000 bytes announced, under the 1 MiB limit) before it answers.
    "a form body": Trickle(
        b"POST /admin/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n"
        b"Cookie: csrftoken=" + b"a" * 32 + b"\r\nContent-Length: 1000000\r\n\r\n",
        lambda n: b"a",
    ),
}


class Slowloris:
    """Connections that each send a request a piece at a time and never end it.

    Each connects and sends its opening, in order, before ``__enter__`` returns, so a
    server that accepts in order takes them all before any later request.
    """

    def __init__(self, connect: Connect, trickle: Trickle, interval: float = 0.2):
        self.connect, self.trickle, self.interval = connect, trickle, interval
        self.sockets: list[socket.socket] = []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.send_pieces, daemon=True)

    def __enter__(self) -> Slowloris:
        for _ in range(SLOW_CLIENTS):
            self.sockets.append(send_request(self.connect, self.trickle.opening))
        self.thread.start()
        return self

    def send_pieces(self) -> None:
        piece = 0
        while not self.stopped.wait(self.interval):  # the attack's pace, not a race
            piece += 1
            for sock in self.sockets:
                # A server may close a slow connection: the test's assertions say so.
                with contextlib.suppress(OSError):
                    sock.sendall(self.trickle.piece(piece))

    def __exit__(self, *exc_info: object) -> None:
        self.stopped.set()
        self.thread.join()
        for sock in self.sockets:
            sock.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop(process: subprocess.Popen) -> None:
    """Stop the script, nginx and gunicorn: the process group the test started."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)
    # Whatever is left of the group (a worker that ignored SIGTERM), whatever happened.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


def wait_until_healthy(served: Served, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        try:
            if read_response(send_request(served.through_nginx, health_request()))[0] == 200:
                return
        except OSError:
            pass  # nginx not listening yet
        time.sleep(0.05)  # a poll interval: 502 until gunicorn listens
    pytest.fail(f"no 200 from /health through nginx within 60 s:\n{log.read_text()}")


@pytest.fixture(scope="module")
def served(tmp_path_factory, django_db_setup) -> Iterator[Served]:
    """gunicorn (1 worker, 2 threads) behind nginx on the test database, as `make serve-proxy`."""
    run_dir = tmp_path_factory.mktemp("proxy")
    log = run_dir / "serve-proxy.log"
    served = Served(port=free_port(), gunicorn_socket=run_dir / "gunicorn.sock")
    environment = {
        **os.environ,
        **databases_for_subprocess(),  # created by django_db_setup
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "LOG_LEVEL": "WARNING",
        "PORT": str(served.port),
        "PROXY_RUN_DIR": str(run_dir),
        "NGINX": NGINX,
    }
    gunicorn = [str(Path(sys.executable).with_name("gunicorn")), "config.wsgi"]
    threads = ["--workers", "1", "--worker-class", "gthread", "--threads", str(GUNICORN_THREADS)]
    with log.open("w") as output:
        process = subprocess.Popen(
            [str(ROOT / "deploy" / "serve-proxy"), *gunicorn, *threads],
            cwd=ROOT,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop() ends all of it
        )
    try:
        wait_until_healthy(served, process, log)
        yield served
    finally:
        stop(process)


@pytest.fixture(params=TRICKLES.values(), ids=TRICKLES.keys())
def trickle(request) -> Trickle:
    return request.param


def test_slow_clients_do_not_hold_gunicorn_behind_nginx(served, trickle):
    with Slowloris(served.through_nginx, trickle) as slowloris:
        started = time.monotonic()
        status, body = read_response(send_request(served.through_nginx, health_request()))
        elapsed = time.monotonic() - started

        assert (status, json.loads(body)) == (200, {"status": "ok"})
        assert elapsed < PROMPTLY
        # The attack was on all along: nginx still holds every slow connection open.
        assert all(still_open(sock) for sock in slowloris.sockets)


def test_without_nginx_the_same_slow_clients_hold_every_thread(served, trickle):
    """The control: gunicorn alone, same clients, and /health waits until they go."""
    with Slowloris(served.to_gunicorn, trickle):
        probe = send_request(served.to_gunicorn, health_request())
        assert not answered_within(probe, HELD)

    # The slow clients gone, the same request is answered: it was queued behind them.
    status, body = read_response(probe)
    assert (status, json.loads(body)) == (200, {"status": "ok"})


def test_nginx_refuses_a_body_over_1_mib_in_the_apps_envelope(served):
    """nginx stops reading at Django's DATA_UPLOAD_MAX_MEMORY_SIZE, and says so as the app would."""
    request = (
        b"POST /orders HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % (1024 * 1024 + 1)
    )
    status, body = read_response(send_request(served.through_nginx, request))
    assert status == 413
    assert json.loads(body) == error_body("REQUEST_TOO_LARGE", "Request body too large.")
