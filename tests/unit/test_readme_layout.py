"""The README's layout ("The flow") lists every module of the project's packages.

Each package has a bullet (- `orders_read/`: ...) and each of its modules a line
under it (  - `engine/catchup.py`: ...), written as its path inside the package.
Migrations and ``__init__`` modules are left out.
"""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ["config", "common", "demo", "bench", "orders_write", "orders_read"]

_PACKAGE_LINE = re.compile(r"- `(\w+)/`")
_MODULE_LINE = re.compile(r"  - `([\w/]+\.py)`:")


def listed_modules() -> dict[str, set[str]]:
    """Package -> the module paths the README's flow section lists under it."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## The flow\n", 1)[1].split("\n## ", 1)[0]
    listed: dict[str, set[str]] = {}
    package = None
    for line in section.splitlines():
        if match := _PACKAGE_LINE.match(line):
            package = match[1]
            listed.setdefault(package, set())
        elif (match := _MODULE_LINE.match(line)) and package:
            listed[package].add(match[1])
        elif not line.startswith("    "):  # a wrapped line stays under its package
            package = None
    return listed


def modules_of(package: str) -> set[str]:
    root = ROOT / package
    return {
        path.relative_to(root).as_posix()
        for path in root.rglob("*.py")
        if path.name != "__init__.py" and "migrations" not in path.relative_to(root).parts
    }


@pytest.mark.parametrize("package", PACKAGES)
def test_the_readme_lists_every_module_of(package):
    listed = listed_modules().get(package, set())
    assert modules_of(package) - listed == set(), f"describe these under `{package}/`"
    assert listed - modules_of(package) == set(), "the README lists modules that are gone"
