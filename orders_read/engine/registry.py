"""The registered projections: what the inline path, catch-up, rebuild and status run.

A projection is registered once, in its app's ``AppConfig.ready()``:
``registry.register(order_summary)``.
"""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

from orders_read.engine.projection import Projection

_projections: dict[str, Projection] = {}


def register(projection: Projection) -> Projection:
    """Add ``projection`` (registering the same object again changes nothing)."""
    registered = _projections.setdefault(projection.name, projection)
    if registered is not projection:
        raise ImproperlyConfigured(
            f"Two projections named {projection.name!r}: {registered!r} and {projection!r}"
        )
    return projection


def unregister(name: str) -> None:
    _projections.pop(name, None)


def get(name: str) -> Projection:
    return _projections[name]


def names() -> list[str]:
    return sorted(_projections)


def projections() -> list[Projection]:
    return [_projections[name] for name in names()]
