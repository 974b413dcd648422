"""Dashboard tests: orders placed here are projected at once, as after a real COMMIT."""

import pytest

from tests.conftest import projecting


@pytest.fixture
def place(place):
    return projecting(place)
