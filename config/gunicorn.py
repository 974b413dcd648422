"""gunicorn's settings for `make serve`: metrics added up across workers, tracing per worker.

prometheus-client counts in each worker; in multiprocess mode every worker writes its
values to files in ``PROMETHEUS_MULTIPROC_DIR`` and ``/metrics`` adds them up. The
library reads the variable when a worker first imports it, after the fork, so it is set
here, in the master, before any worker starts (a new temporary directory unless given).
Tracing's batch span processor runs a thread, which a fork does not copy: each worker
starts its own after the fork.
"""

import os
import tempfile
from pathlib import Path
from typing import Any

os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="orders-metrics-"))


def on_starting(server: Any) -> None:
    """Start from zero: a previous run's files would be added to this run's counts."""
    directory = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()


def child_exit(server: Any, worker: Any) -> None:
    """A worker gone: its live gauges no longer count (its counters still do)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def post_fork(server: Any, worker: Any) -> None:
    """Start tracing in the worker (when ``OTEL_TRACES_EXPORTER`` asks for it)."""
    from common import tracing

    tracing.start()
