"""PostgreSQL timestamps read by psycopg's own loader (C), not Django's (Python).

Django puts its own ``timestamptz`` loader on every PostgreSQL connection
(``BaseTzLoader`` in ``django.db.backends.postgresql.psycopg_any``): psycopg's
pure-Python parser, then ``replace(tzinfo=connection.timezone)``, a few Python calls
per value. A dashboard page of 50 rows holds 100 timestamps, and reading them that way
cost more CPU than the rest of reading the page.

With ``USE_TZ`` and no ``TIME_ZONE`` of the database's own (our settings), Django's
``timezone`` for the connection is ``datetime.UTC`` and it sets the session's
``TimeZone`` to UTC; psycopg's loader then returns the very same values: aware, in
``datetime.UTC``. On such a connection psycopg's loader is put back. Anything else
(another zone, ``USE_TZ`` off) keeps Django's.

Django asks the connection's loader for its ``timezone`` when it makes each cursor, and
registers its own loader on the cursor when that differs. psycopg's C loader can be
neither subclassed nor given an attribute, so ``UtcTimestampLoader`` carries the
attribute and makes psycopg's loader.
"""

from __future__ import annotations

import datetime
from typing import Any

import psycopg
from django.db.backends.base.base import BaseDatabaseWrapper
from psycopg.abc import AdaptContext, Loader
from psycopg.pq import Format

# psycopg's timestamptz loader for text results: its C one when psycopg[binary] is in.
_PSYCOPG_LOADER = psycopg.adapters.get_loader(
    psycopg.postgres.types["timestamptz"].oid, Format.TEXT
)


class UtcTimestampLoader:
    """psycopg's ``timestamptz`` loader, for a session in UTC, as Django sees its loaders."""

    format = Format.TEXT
    timezone = datetime.UTC  # what Django compares with the connection's time zone

    def __new__(cls, oid: int, context: AdaptContext | None = None) -> Loader:
        return _PSYCOPG_LOADER(oid, context)


def load_timestamps_natively(sender: Any, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    """``connection_created``: psycopg's loader where it returns what Django's would."""
    if connection.vendor != "postgresql" or connection.timezone != datetime.UTC:
        return
    if connection.connection.info.parameter_status("TimeZone") == "UTC":
        connection.connection.adapters.register_loader("timestamptz", UtcTimestampLoader)
