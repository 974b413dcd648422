"""What a request's log line says besides the request itself, noted by the code that knows it.

The command bus notes the command it ran and its outcome code; the access line
(``config.request_id``) carries every noted field on its record, so a JSON log line
(``LOG_FORMAT=json``) holds the request id, the user, the command, its outcome and the
duration together. Outside a request, noting does nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

_noted: ContextVar[dict[str, Any] | None] = ContextVar("log_fields", default=None)


@contextlib.contextmanager
def collecting() -> Iterator[dict[str, Any]]:
    """Collect what is noted while the block runs (on this thread or task)."""
    fields: dict[str, Any] = {}
    token = _noted.set(fields)
    try:
        yield fields
    finally:
        _noted.reset(token)


def note(**fields: Any) -> None:
    """Add ``fields`` to the current request's log line (nothing outside a request)."""
    collected = _noted.get()
    if collected is not None:
        collected.update(fields)
