"""Token and session authentication that keep dashboard reads going while the write side is down.

Users, sessions and tokens live in the write database, so every authenticated request
reads it, and a write-side outage would stop reads the read model could serve. Each
successful authentication is therefore remembered for ``ORDERS_AUTH_CACHE_SECONDS``
(Django's cache: local memory per process unless ``CACHES`` says otherwise), with the
user's permissions loaded, and the memory is used only when the write database cannot
be reached. While it can, every request is checked against it as before: a revoked
token or a closed session is refused at once.

What a revoked token (or a closed session) can still do: during a write-side outage,
for at most ``ORDERS_AUTH_CACHE_SECONDS`` after it last authenticated, in a process
that saw it, what its user could do then, which during an outage is reading (commands
need the write side and answer 503). A credential never seen by that process needs
the write side, and so does a new login. ``0`` turns the memory off.
"""

from __future__ import annotations

import hashlib
from typing import Any

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.cache import cache
from drf_spectacular.authentication import SessionScheme
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.request import Request

from common.availability import DATABASE_UNAVAILABLE

CACHE_PREFIX = "orders-auth"


def _cache_key(kind: str, secret: str) -> str:
    # A digest, never the credential itself, goes into the cache (which may be shared).
    return f"{CACHE_PREFIX}:{kind}:{hashlib.sha256(secret.encode()).hexdigest()}"


def remember(kind: str, secret: str | None, authenticated: tuple[Any, Any] | None) -> None:
    """Keep an authentication, with the user's permissions loaded, for an outage."""
    seconds = settings.ORDERS_AUTH_CACHE_SECONDS
    if not seconds or not secret or authenticated is None:
        return
    user = authenticated[0]
    if isinstance(user, AbstractBaseUser) and hasattr(user, "get_all_permissions"):
        user.get_all_permissions()  # cached on the user: has_perm then needs no query
    cache.set(_cache_key(kind, secret), authenticated, seconds)


def recall(kind: str, secret: str | None) -> tuple[Any, Any] | None:
    """The authentication remembered for ``secret``, if any (and the memory is on)."""
    if not settings.ORDERS_AUTH_CACHE_SECONDS or not secret:
        return None
    return cache.get(_cache_key(kind, secret))


class CachedTokenAuthentication(TokenAuthentication):
    """``Authorization: Token …``, remembered for a write-side outage."""

    def authenticate_credentials(self, key: str) -> tuple[Any, Any]:
        try:
            authenticated = super().authenticate_credentials(key)
        except DATABASE_UNAVAILABLE:
            remembered = recall("token", key)
            if remembered is None:
                raise
            return remembered
        remember("token", key, authenticated)
        return authenticated


class CachedSessionAuthentication(SessionAuthentication):
    """Django's session (the admin's login), remembered for a write-side outage."""

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        session_key = request._request.COOKIES.get(settings.SESSION_COOKIE_NAME)
        try:
            authenticated = super().authenticate(request)
        except DATABASE_UNAVAILABLE:
            remembered = recall("session", session_key)
            if remembered is None:
                raise
            self.enforce_csrf(request)  # as for any session: no database needed
            return remembered
        remember("session", session_key, authenticated)
        return authenticated


class CachedSessionScheme(SessionScheme):
    """The OpenAPI description: Django's session cookie, as for DRF's class."""

    target_class = CachedSessionAuthentication
