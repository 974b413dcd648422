"""The database router: the read model on the read primary, everything else on the write side.

With one database (``READ_DATABASE_URL`` unset) every app maps to ``default`` and the
router changes nothing. Replicas are never chosen here: a hot standby is read only
where a caller asks for one (``orders_read.replicas``), so the engine always reads
its checkpoints from the read primary. ``allow_migrate`` keeps each app's tables in
its own database only: ``manage.py migrate`` sets up the write side,
``manage.py migrate --database read`` the read primary, and standbys get theirs by
replication.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import Model

from config.databases import alias_for_app


def _alias(model: type[Model]) -> str:
    return alias_for_app(model._meta.app_label, settings.DATABASES)


class DatabaseRouter:
    def db_for_read(self, model: type[Model], **hints: Any) -> str:
        return _alias(model)

    def db_for_write(self, model: type[Model], **hints: Any) -> str:
        return _alias(model)

    def allow_relation(self, obj1: Model, obj2: Model, **hints: Any) -> bool:
        # No foreign key crosses from one database to the other.
        return _alias(type(obj1)) == _alias(type(obj2))

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool:
        return db == alias_for_app(app_label, settings.DATABASES)
