"""Idempotency keys (Stripe's convention): a retried command gets its first answer back.

The caller opens a transaction, claims the key, runs the command and records the
answer before COMMIT, so the key row exists exactly when the command's outcome
does. A claim either returns a fresh row (run the command) or the stored answer
(replay it, writing nothing), or refuses:

- ``KeyReused``: the key was used for a different request (method, path, body, actor);
- ``KeyInProgress``: another request with the key is still running and did not finish
  within ``settings.ORDERS_IDEMPOTENCY_WAIT_MS``.

Concurrency: on PostgreSQL the second INSERT of a (user, key) row waits for the
transaction holding the first; when that commits, the INSERT fails on the unique
constraint and the claim returns the committed answer. The wait is bounded with a
transaction-local ``lock_timeout``, set around the INSERT only. On SQLite writers
are serialized at BEGIN (``BEGIN IMMEDIATE``), so the second request starts after the
first has committed and replays it.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, OperationalError, connection, transaction
from django.utils import timezone

from orders_write.models import IdempotencyKey

KEY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
# Visible ASCII ("!" to "~"), no spaces: fits a header everywhere, logs safely, and
# nothing a proxy could trim. A UUID is the usual choice.
KEY_PATTERN = rf"^[!-~]{{1,{MAX_KEY_LENGTH}}}$"
_VALID_KEY = re.compile(KEY_PATTERN)
# PostgreSQL's SQLSTATE for lock_timeout ("lock_not_available").
_LOCK_NOT_AVAILABLE = "55P03"


class InvalidKey(Exception):
    """The header is empty, too long or not visible ASCII."""


class KeyReused(Exception):
    """The key was first used for a different request."""


class KeyInProgress(Exception):
    """A request with the key is still running."""


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: Any


def parse_key(value: str | None) -> str | None:
    """The ``Idempotency-Key`` header's value, None without one; ``InvalidKey`` if malformed."""
    if value is None:
        return None
    if not _VALID_KEY.fullmatch(value):
        raise InvalidKey(
            f"{KEY_HEADER} must be 1 to {MAX_KEY_LENGTH} visible ASCII characters (no spaces)"
        )
    return value


def request_fingerprint(*, method: str, path: str, body: Any, actor_id: int | None) -> str:
    """SHA-256 of what makes a request the same request: method, path, body (as
    canonical JSON: sorted keys, no whitespace), actor. A trailing slash is ignored,
    since both spellings reach the same endpoint."""
    canonical_body = json.dumps(
        body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, cls=DjangoJSONEncoder
    )
    material = "\n".join([method.upper(), path.rstrip("/") or "/", str(actor_id), canonical_body])
    return hashlib.sha256(material.encode()).hexdigest()


def expiry_cutoff(now: datetime | None = None) -> datetime:
    """Keys created at or before this moment have expired."""
    return (now or timezone.now()) - settings.ORDERS_IDEMPOTENCY_KEY_TTL


def claim(*, user_id: int, key: str, fingerprint: str) -> IdempotencyKey | StoredResponse:
    """Claim ``key`` for this request, inside the caller's transaction.

    Returns the new key row (run the command, then ``record_response``) or the answer
    stored for the same request (replay it). Raises ``KeyReused`` or ``KeyInProgress``.
    An expired key is treated as new.
    """
    # Each turn either finds a committed row or inserts one; a unique violation means
    # a concurrent request committed the key meanwhile, and the next turn finds it.
    for _ in range(3):
        existing = IdempotencyKey.objects.filter(user_id=user_id, key=key).first()
        if existing is not None and existing.created_at > expiry_cutoff():
            if existing.fingerprint != fingerprint:
                raise KeyReused(f"This {KEY_HEADER} was used for a different request")
            if existing.response_status is None:  # never committed so, but be explicit
                raise KeyInProgress(f"A request with this {KEY_HEADER} is in progress")
            return StoredResponse(existing.response_status, json.loads(existing.response_body))
        if existing is not None:
            IdempotencyKey.objects.filter(pk=existing.pk).delete()
        try:
            return _insert(user_id=user_id, key=key, fingerprint=fingerprint)
        except IntegrityError:
            continue
    raise KeyInProgress(f"A request with this {KEY_HEADER} is in progress")


def record_response(claimed: IdempotencyKey, *, status: int, body: Any) -> None:
    """Store the answer on the claimed row, in the command's transaction."""
    claimed.response_status = status
    claimed.response_body = json.dumps(body, cls=DjangoJSONEncoder)
    claimed.save(update_fields=["response_status", "response_body"])


def purge_expired(now: datetime | None = None) -> int:
    """Delete expired keys; returns how many."""
    deleted, _ = IdempotencyKey.objects.filter(created_at__lte=expiry_cutoff(now)).delete()
    return deleted


def _insert(*, user_id: int, key: str, fingerprint: str) -> IdempotencyKey:
    # A savepoint: a unique violation or lock timeout rolls back only this INSERT
    # (and the lock_timeout set in it), leaving the caller's transaction usable.
    try:
        with transaction.atomic():
            # At least 1 ms: PostgreSQL reads a lock_timeout of 0 as "wait forever".
            wait_ms = max(1, int(settings.ORDERS_IDEMPOTENCY_WAIT_MS))
            previous = _set_lock_timeout(f"{wait_ms}ms")
            row = IdempotencyKey.objects.create(user_id=user_id, key=key, fingerprint=fingerprint)
            _set_lock_timeout(previous)
            return row
    except OperationalError as exc:
        if getattr(exc.__cause__, "sqlstate", None) == _LOCK_NOT_AVAILABLE:
            raise KeyInProgress(f"A request with this {KEY_HEADER} is in progress") from exc
        raise


def _set_lock_timeout(value: str | None) -> str | None:
    """Set PostgreSQL's ``lock_timeout`` for this transaction; returns the previous value."""
    if connection.vendor != "postgresql" or value is None:
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('lock_timeout')")
        (previous,) = cursor.fetchone()
        cursor.execute("SELECT set_config('lock_timeout', %s, true)", [value])
    return previous
