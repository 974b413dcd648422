"""What every benchmark shares: a throwaway PostgreSQL, the demo data, gunicorn, wrk, the table."""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = str(ROOT / ".venv" / "bin" / "python")
GUNICORN = str(ROOT / ".venv" / "bin" / "gunicorn")
WORKERS = 3


@dataclass
class Figure:
    """One line of the table: a figure, its baseline measured beside it, the ratio."""

    name: str
    value: float
    unit: str
    baseline: float | None = None
    baseline_name: str = ""
    # "higher" means value/baseline is the gain; "lower" means baseline/value.
    better: str = "higher"
    target: str = ""
    met: bool | None = None

    @property
    def ratio(self) -> float | None:
        if not self.baseline or not self.value:
            return None
        return self.value / self.baseline if self.better == "higher" else self.baseline / self.value


@dataclass
class Env:
    database_url: str
    orders: int
    seed_seconds: float = 0.0
    figures: list[Figure] = field(default_factory=list)
    token: str = ""


def parser(description: str, default_orders: int = 1_000_000) -> argparse.ArgumentParser:
    arguments = argparse.ArgumentParser(description=description)
    arguments.add_argument("--orders", type=int, default=default_orders)
    arguments.add_argument(
        "--seconds", type=float, default=6.0, help="wrk duration per measurement (default 6)"
    )
    return arguments


def busy_cpu_seconds() -> float:
    """CPU seconds every core of the machine has spent busy since boot (``/proc/stat``:
    user, nice, system, interrupts; not idle, I/O wait, or time the hypervisor gave to
    others), every process's, ours or not: take it around a step on a machine with
    nothing else running."""
    with open("/proc/stat") as stat:
        user, nice, system, _idle, _iowait, irq, softirq = map(int, stat.readline().split()[1:8])
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def postgres() -> Iterator[str]:
    """A throwaway PostgreSQL 15 (``.ci/pg``) with an empty ``orders`` database.

    Its data directory is in ``PGDATA_DIR`` meanwhile (for ``fsync_on``).
    """
    env = dict(os.environ, PGPORT_CI=str(free_port()))
    out = subprocess.run(
        [str(ROOT / ".ci" / "pg"), "start"], env=env, check=True, capture_output=True, text=True
    ).stdout
    values = dict(line.split("=", 1) for line in out.split())
    try:
        url = values["DATABASE_URL"]
        os.environ["PGDATA_DIR"] = values["PGDATA_DIR"]
        admin_url = url.rsplit("/", 1)[0] + "/postgres"
        subprocess.run(["psql", "-q", admin_url, "-c", "CREATE DATABASE orders"], check=True)
        yield url
    finally:
        subprocess.run([str(ROOT / ".ci" / "pg"), "stop", values["PGDATA_DIR"]], check=False)


def setup_django(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()


def manage(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [PYTHON, str(ROOT / "manage.py"), *args],
        env=env or dict(os.environ),
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )


def seeded(database_url: str, orders: int) -> Env:
    """Migrate, then ``seed_demo --orders N`` (timed: target 5) in a fresh process."""
    setup_django(database_url)
    manage("migrate", "--no-input")
    log(f"seed_demo --orders {orders:,}")
    started = time.monotonic()
    manage("seed_demo", "--orders", str(orders))
    env = Env(database_url=database_url, orders=orders, seed_seconds=time.monotonic() - started)
    log(f"seeded in {env.seed_seconds:.0f} s")
    # Measure a settled database, not autovacuum catching up with the bulk load.
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
        cursor.execute("CHECKPOINT")
    from rest_framework.authtoken.models import Token

    env.token = Token.objects.get(user__username="admin").key
    return env


@contextlib.contextmanager
def fsync_on() -> Iterator[None]:
    """The bench's PostgreSQL restarted durable (fsync and full-page writes on, as in
    production), then restarted as it was (off: throwaway data) on the way out.

    The server's own options (``.ci/pg``'s command line) outrank ``ALTER SYSTEM``, so
    a restart is the one way to change them; every connection is closed first.
    """
    from django.db import connections

    def restart(fsync: str) -> None:
        connections.close_all()
        pg, data_dir = str(ROOT / ".ci" / "pg"), os.environ["PGDATA_DIR"]
        subprocess.run([pg, "down", data_dir], check=True)
        subprocess.run([pg, "up", data_dir], env=dict(os.environ, PG_FSYNC=fsync), check=True)
        with connections["default"].cursor() as cursor:
            cursor.execute("SHOW fsync")
            if cursor.fetchone()[0] != fsync:
                raise RuntimeError(f"PostgreSQL did not restart with fsync {fsync}")

    restart("on")
    try:
        yield
    finally:
        restart("off")


@contextlib.contextmanager
def environment(orders: int) -> Iterator[Env]:
    with postgres() as url:
        yield seeded(url, orders)


@contextlib.contextmanager
def gunicorn(
    env: Env, extra_env: dict[str, str] | None = None, threads: int | None = None, nice: int = 0
) -> Iterator[str]:
    """gunicorn (``WORKERS`` workers, DEBUG off) on a loopback port; yields its URL.

    Sync workers, or ``threads`` threads each (gthread, as ``make serve`` runs it).
    ``nice``: run it at that lower CPU priority (``nice -n``), so processes beside it
    keep the cycles they need first.
    """
    port = free_port()
    process_env = dict(
        os.environ,
        DATABASE_URL=env.database_url,
        DJANGO_SETTINGS_MODULE="bench.settings",
        SECRET_KEY=secrets.token_urlsafe(40),
        DEBUG="0",
        LOG_LEVEL="WARNING",
        **(extra_env or {}),
    )
    process = subprocess.Popen(
        [
            *niced(nice),
            GUNICORN,
            "config.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(WORKERS),
            *(["--worker-class", "gthread", "--threads", str(threads)] if threads else []),
        ],
        env=process_env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            with contextlib.suppress(OSError):
                urllib.request.urlopen(base + "/health", timeout=5).read()
                break
            time.sleep(0.1)
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def niced(nice: int) -> list[str]:
    """The prefix that runs a command at a lower CPU priority (none for 0); ``nice``
    execs the command, so its pid is the command's."""
    return ["nice", "-n", str(nice)] if nice else []


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0:
        raise SystemExit("wrk is missing: apt-get install wrk (as root)")
    log("installing wrk (Debian package)")
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=False, capture_output=True)
    if not shutil.which("wrk"):
        subprocess.run(["apt-get", "update", "-qq"], check=True, capture_output=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, capture_output=True)
    return shutil.which("wrk") or "wrk"


@dataclass
class WrkResult:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)?", text)
    if match is None:
        raise ValueError(f"wrk latency {text!r}")
    number, unit = match.groups()
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
    return float(number) * scale[unit or "s"]


def wrk(
    url: str,
    token: str,
    seconds: float,
    connections: int = 6,
    script: str | None = None,
    headers: list[str] | None = None,
    nice: int = 0,
) -> WrkResult:
    """wrk on loopback for ``seconds``; errors are non-2xx answers, socket errors, timeouts.

    ``headers``: more request headers (``"Cookie: sessionid=…"`` for the pages);
    ``nice``: a lower CPU priority, as for ``gunicorn``."""
    command = [
        *niced(nice),
        ensure_wrk(),
        f"-t{min(2, connections)}",  # wrk needs a connection per thread
        f"-c{connections}",
        f"-d{seconds:.0f}s",
        "--timeout",
        "60s",
        "--latency",
        "-H",
        f"Authorization: Token {token}",
    ]
    for header in headers or []:
        command += ["-H", header]
    if script:
        command += ["-s", script]
    out = subprocess.run([*command, url], check=True, capture_output=True, text=True).stdout
    return parse_wrk(out)


def parse_wrk(out: str) -> WrkResult:
    """Requests/s, p50/p99 and errors from ``wrk --latency`` output."""
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    try:
        p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))
        p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))
    except (AttributeError, ValueError):
        log(f"cannot read wrk's latency:\n{out}")
        p50 = p99 = 0.0
    errors = 0
    if match := re.search(r"Non-2xx or 3xx responses: (\d+)", out):
        errors += int(match.group(1))
    if match := re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    ):
        errors += sum(int(group) for group in match.groups())
    return WrkResult(rps, p50, p99, requests, errors)


def _fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    text = f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"
    return f"{text} {unit}".strip()


def print_table(figures: list[Figure], title: str = "") -> str:
    rows = [
        (
            figure.name,
            _fmt(figure.value, figure.unit),
            f"{_fmt(figure.baseline, figure.unit)} ({figure.baseline_name})"
            if figure.baseline is not None
            else "-",
            f"{figure.ratio:,.2f}x" if figure.ratio is not None else "-",
            figure.target,
            {True: "met", False: "MISSED", None: ""}[figure.met],
        )
        for figure in figures
    ]
    header = ("figure", "measured", "baseline (run beside it)", "ratio", "target", "")
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
        *("| " + " | ".join(row) + " |" for row in rows),
    ]
    text = (f"\n{title}\n\n" if title else "\n") + "\n".join(lines) + "\n"
    print(text, flush=True)
    return text


def machine() -> str:
    cores = os.cpu_count()
    with open("/proc/meminfo") as meminfo:
        kb = int(meminfo.readline().split()[1])
    version = subprocess.run(
        ["psql", "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return (
        f"nproc {cores}, {kb / 1024 / 1024:.0f} GB RAM, {version}, Python {sys.version.split()[0]}"
    )
