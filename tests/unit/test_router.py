"""The router sends the read model to the read primary when there is one (no database)."""

from types import SimpleNamespace

import pytest

from config import router as router_module
from config.databases import READ, WRITE
from config.router import DatabaseRouter


@pytest.fixture
def databases(monkeypatch):
    def configure(*aliases):
        monkeypatch.setattr(
            router_module, "settings", SimpleNamespace(DATABASES=dict.fromkeys(aliases))
        )

    return configure


def test_with_a_read_primary_each_app_migrates_in_its_own_database_only(databases):
    databases(WRITE, READ)
    router = DatabaseRouter()

    assert router.allow_migrate(READ, "orders_read")
    assert not router.allow_migrate(WRITE, "orders_read")
    assert router.allow_migrate(WRITE, "orders_write")
    assert not router.allow_migrate(READ, "orders_write")
    assert not router.allow_migrate(READ, "auth")


def test_with_one_database_everything_migrates_there(databases):
    databases(WRITE)

    assert DatabaseRouter().allow_migrate(WRITE, "orders_read")
