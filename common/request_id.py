"""Request ids: one per request, echoed in ``X-Request-ID``, on every log line, in event metadata.

The middleware takes the client's ``X-Request-ID`` when it is sane (bounded length,
safe characters; a proxy or a client's own tracing id), otherwise makes one. It sets
``request.request_id`` (DRF's ``Request`` proxies attributes to the ``HttpRequest``,
so the command views read it into the command's actor and from there into the
event metadata) and a context variable that ``RequestIdFilter`` adds to every log
record emitted while the request runs, including the on-commit projection's.

The access line holds what the client sent (the method and the decoded path), so a
``%0d%0a`` in a path would end the line and start an invented one, with any request
id. ``loggable`` escapes such values into a single token. The line's record also
carries them as fields, with the user, the duration and what the request's code
noted (``common.log_context``: the command and its outcome), for ``LOG_FORMAT=json``.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable
from contextvars import ContextVar

from django.http import HttpRequest, HttpResponse
from django.utils.functional import SimpleLazyObject, empty

from common import log_context

REQUEST_ID_HEADER = "X-Request-ID"
MAX_REQUEST_ID_LENGTH = 128
# Letters, digits and the separators tracing ids use; nothing that could forge a log line.
_SANE_REQUEST_ID = re.compile(rf"[A-Za-z0-9._:@+=/-]{{1,{MAX_REQUEST_ID_LENGTH}}}")

_current_request_id: ContextVar[str] = ContextVar("request_id", default="")

access_logger = logging.getLogger("config.requests")


def sane_request_id(value: str | None) -> str | None:
    """``value`` if it is safe to log and echo as a request id, else None."""
    if value and _SANE_REQUEST_ID.fullmatch(value):
        return value
    return None


def new_request_id() -> str:
    return uuid.uuid4().hex


def loggable(value: str) -> str:
    """``value`` as one token of a log line, with backslash escapes for what could break it.

    Control characters (CR, LF and every other C0 and C1 one), every non-ASCII
    character (Unicode has line separators of its own) and the backslash become
    Python escapes, as in Django's own ``django.request`` lines; the space becomes
    ``\\x20`` so a value cannot add fields to the line either.
    """
    return value.encode("unicode_escape").decode("ascii").replace(" ", "\\x20")


class RequestIdMiddleware:
    """Give each request an id, return it in ``X-Request-ID`` and log one access line."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = sane_request_id(request.headers.get(REQUEST_ID_HEADER)) or new_request_id()
        request.request_id = request_id
        token = _current_request_id.set(request_id)
        started = time.monotonic()
        try:
            with log_context.collecting() as noted:
                response = self.get_response(request)
            response[REQUEST_ID_HEADER] = request_id
            duration_ms = (time.monotonic() - started) * 1000
            # The path without the query string: filters can carry personal data. The
            # same values go on the record as fields, for a JSON log line (whose
            # encoding escapes them).
            access_logger.info(
                "%s %s %s %.0fms",
                loggable(request.method or ""),
                loggable(request.path),
                response.status_code,
                duration_ms,
                extra={
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "duration_ms": round(duration_ms, 1),
                    "user": _username(request),
                    **noted,
                },
            )
            return response
        finally:
            _current_request_id.reset(token)


def _username(request: HttpRequest) -> str:
    """Who made the request, if authentication has already said ("" otherwise).

    Never authenticates here: a session or token lookup is a query, and during an
    outage ``/health`` must still answer its 503. DRF sets the user it authenticated
    on the request; Django's middleware sets a lazy one, read only if already loaded.
    """
    user = request.__dict__.get("user")
    if isinstance(user, SimpleLazyObject):
        user = None if user._wrapped is empty else user._wrapped
    if user is None or not user.is_authenticated:
        return ""
    return user.get_username()


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` to every record ("-" outside a request), for the log format.

    Django logs a 4xx/5xx answer (``django.request``) after the middleware has
    returned, with the request on the record: the id is taken from there.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        request_id = getattr(getattr(record, "request", None), "request_id", None)
        record.request_id = request_id or _current_request_id.get() or "-"
        return True
