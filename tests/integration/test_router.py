"""The router keeps each app's tables in its own database (README, Scaling out)."""

import pytest
from django.apps import apps
from django.conf import settings
from django.db import connections

from config.databases import READ, WRITE, alias_for_app


@pytest.mark.django_db(databases="__all__")
def test_each_apps_tables_exist_in_its_own_database_and_not_in_the_other():
    if READ not in connections.databases:
        pytest.skip("one database: READ_DATABASE_URL is not set")
    tables = {alias: set(connections[alias].introspection.table_names()) for alias in (WRITE, READ)}
    for model in apps.get_models():
        if not model._meta.managed:
            continue
        home = alias_for_app(model._meta.app_label, settings.DATABASES)
        other = READ if home == WRITE else WRITE
        assert model._meta.db_table in tables[home], model
        assert model._meta.db_table not in tables[other], model
