"""The import contract of the read side names every module of orders_write.

``orders_read imports only what orders_write publishes`` is a forbidden list: a new
orders_write module nobody adds to it would be open to the read side unnoticed.
"""

import pkgutil
import tomllib
from pathlib import Path

import orders_write

ROOT = Path(__file__).resolve().parents[2]
# What orders_write publishes to the read side (see pyproject.toml).
PUBLISHED = {"events", "event_log", "signals", "selectors", "statuses", "money", "upcasting"}


def read_side_contract() -> dict:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    (contract,) = [
        contract
        for contract in config["tool"]["importlinter"]["contracts"]
        if contract["name"] == "orders_read imports only what orders_write publishes"
    ]
    return contract


def test_every_orders_write_module_is_published_or_forbidden_to_the_read_side():
    modules = {info.name for info in pkgutil.iter_modules(orders_write.__path__)}
    forbidden = {
        name.removeprefix("orders_write.")
        for name in read_side_contract()["forbidden_modules"]
        if name.startswith("orders_write.")
    }
    assert not PUBLISHED & forbidden
    assert modules - PUBLISHED - forbidden == set(), "list it in pyproject.toml's contract"
    assert forbidden <= modules, "the contract names a module that does not exist"
