"""Each side's outage as its own answer: a 503 that names the side, never a 500 or a hang.

The write side (orders, the event log, users, sessions, tokens) and the read model can
live in different databases, and either can be down while the other serves. A view
says which side each part of a request touches: authentication and permissions read
users and tokens (the write side); a dashboard handler reads the read model; a
command handler writes the write side. A database that cannot be reached (refused,
stopped, timed out: ``OperationalError``, or ``InterfaceError`` for a connection that
died) then answers ``503`` with ``WRITE_SIDE_UNAVAILABLE`` or ``READ_MODEL_UNAVAILABLE``.
Connections give up after ``ORDERS_DB_CONNECT_TIMEOUT`` seconds (``config.databases``),
so the answer comes in bounded time.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.db import (
    DEFAULT_DB_ALIAS,
    DatabaseError,
    InterfaceError,
    OperationalError,
    connections,
)
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.response import Response

logger = logging.getLogger(__name__)

# What a database that cannot be reached raises through Django.
DATABASE_UNAVAILABLE = (OperationalError, InterfaceError)


class WriteSideUnavailable(exceptions.APIException):
    status_code = 503
    default_detail = "The write database is unavailable; try again shortly."
    default_code = "write_side_unavailable"


class ReadModelUnavailable(exceptions.APIException):
    status_code = 503
    default_detail = "The read model is unavailable; try again shortly."
    default_code = "read_model_unavailable"


class AuthenticatesOnTheWriteSide:
    """Authentication, permissions and throttles (DRF's ``initial``) read the write side."""

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        try:
            super().initial(request, *args, **kwargs)  # type: ignore[misc]
        except DATABASE_UNAVAILABLE as error:
            logger.warning("Write side unavailable while authenticating: %r", error)
            raise WriteSideUnavailable() from error


class ReadsTheReadModel(AuthenticatesOnTheWriteSide):
    """A view whose handler reads the read model only (the dashboard)."""

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, DATABASE_UNAVAILABLE):
            logger.warning("Read model unavailable: %r", exc)
            exc = ReadModelUnavailable()
        return super().handle_exception(exc)  # type: ignore[misc]


class WritesTheWriteSide(AuthenticatesOnTheWriteSide):
    """A view whose handler writes the write side (a command); projections never fail it."""

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, DATABASE_UNAVAILABLE):
            logger.warning("Write side unavailable: %r", exc)
            exc = WriteSideUnavailable()
        return super().handle_exception(exc)  # type: ignore[misc]


def write_side_unreachable() -> bool:
    """Whether this thread's connection to the write database is missing or dead."""
    database = connections[DEFAULT_DB_ALIAS]
    try:
        return database.connection is None or not database.is_usable()
    except DatabaseError:
        return True


def database_states() -> dict[str, str]:
    """``"ok"`` or ``"error"`` for the write database and the read primary (if separate).

    Replicas are left out: reads skip one that is down, so it is no outage.
    """
    states = {}
    for alias in settings.DATABASES:
        if settings.DATABASES[alias].get("TEST", {}).get("MIRROR"):
            continue  # a replica
        try:
            with connections[alias].cursor() as cursor:
                cursor.execute("SELECT 1")
                cursor.fetchone()
            states[alias] = "ok"
        except DatabaseError:
            logger.exception("Health check: database %s unavailable", alias)
            states[alias] = "error"
    return states
