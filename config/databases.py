"""Which databases exist, read from the environment, and which app lives in which.

One database by default: ``DATABASE_URL`` (SQLite unless set) holds everything, and
``make run`` stays one file. ``READ_DATABASE_URL`` moves the read model (every
``orders_read`` table) to a PostgreSQL of its own, the *read primary*;
``READ_REPLICA_URLS`` names hot standbys of it that PostgreSQL's streaming
replication keeps, for dashboard reads. Aliases: ``default`` (the write side),
``read`` (only when ``READ_DATABASE_URL`` is set) and ``replica1``, ``replica2``...

Every connection counts its queries, their durations and errors for ``/metrics``
(django-prometheus's wrappers of Django's own SQLite and PostgreSQL engines:
``django_db_execute_total``, ``django_db_query_duration_seconds``, ...).

Every PostgreSQL connection gives up after ``ORDERS_DB_CONNECT_TIMEOUT`` seconds (libpq
counts 2 at least), so a database that is down answers as an error in bounded time,
never as a hanging request.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dj_database_url

WRITE = "default"
READ = "read"
REPLICA_PREFIX = "replica"

# The apps whose tables live on the read primary; every other app is on the write side.
READ_APPS = frozenset({"orders_read"})


def database_settings(environ: Mapping[str, str], base_dir: Path) -> dict[str, dict[str, Any]]:
    """``DATABASES`` from the environment (see the module docstring)."""
    connect_timeout = int(environ.get("ORDERS_DB_CONNECT_TIMEOUT", 2))
    default_url = f"sqlite:///{base_dir / 'db.sqlite3'}"
    databases = {
        WRITE: _database(environ.get("DATABASE_URL") or default_url, connect_timeout),
    }
    # A SQLite test database is a file beside manage.py, not Django's shared in-memory
    # one: tests that run threads or a second process then see production's locking.
    _sqlite_test_name(databases[WRITE], base_dir / ".test-db.sqlite3")
    read_url = environ.get("READ_DATABASE_URL", "").strip()
    if read_url:
        databases[READ] = _database(read_url, connect_timeout)
        _sqlite_test_name(databases[READ], base_dir / ".test-db-read.sqlite3")
    replica_urls = [url.strip() for url in environ.get("READ_REPLICA_URLS", "").split(",")]
    for number, url in enumerate(filter(None, replica_urls), start=1):
        replica = _database(url, connect_timeout)
        # A standby cannot hold a test database of its own: in tests it stands for the
        # read primary's (tests/conftest.py points it back at the standby where one runs).
        replica["TEST"] = {"MIRROR": READ if read_url else WRITE}
        databases[f"{REPLICA_PREFIX}{number}"] = replica
    return databases


# Django's engine → the same engine with django-prometheus's query counters.
_MEASURED_ENGINES = {
    "django.db.backends.sqlite3": "django_prometheus.db.backends.sqlite3",
    "django.db.backends.postgresql": "django_prometheus.db.backends.postgresql",
}


def _database(url: str, connect_timeout: int) -> dict[str, Any]:
    database = dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True)
    database["ENGINE"] = _MEASURED_ENGINES.get(database["ENGINE"], database["ENGINE"])
    if database["ENGINE"] == _MEASURED_ENGINES["django.db.backends.sqlite3"]:
        # Tuned for a web server: WAL lets readers run beside the writer, the busy
        # timeout makes a second writer wait instead of failing, and IMMEDIATE
        # transactions take the write lock at BEGIN, so two requests never deadlock
        # upgrading read locks ("database is locked").
        database["CONN_MAX_AGE"] = 0
        database["OPTIONS"] = {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        }
    else:
        database.setdefault("OPTIONS", {})["connect_timeout"] = connect_timeout
    return database


def _sqlite_test_name(database: dict[str, Any], path: Path) -> None:
    if database["ENGINE"] == _MEASURED_ENGINES["django.db.backends.sqlite3"]:
        database["TEST"] = {"NAME": str(path)}


def alias_for_app(app_label: str, databases: Mapping[str, object]) -> str:
    """The database an app's tables live in: the read primary for the read model."""
    if app_label in READ_APPS and READ in databases:
        return READ
    return WRITE


def replica_aliases(databases: Mapping[str, object]) -> list[str]:
    """The read primary's hot standbys, in the order ``READ_REPLICA_URLS`` gave them."""
    return [alias for alias in databases if alias.startswith(REPLICA_PREFIX)]
