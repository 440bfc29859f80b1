"""Pytest fixtures that run a Holistics API sandbox on loopback for one test.

Use `pytest_plugins = ["tests.sandbox_fixtures"]` or `from tests.sandbox_fixtures import *`.
PYTEST_DONT_REWRITE: no assertions here; the marker lets both styles load this module without
pytest warning that it was imported before it could be rewritten.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from reconciler.sandbox import Sandbox

__all__ = ["example_sandbox", "sandbox"]


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    """A started sandbox with the example's dashboards and reports but no data schedules."""
    with Sandbox(seed="empty") as sb:
        yield sb


@pytest.fixture
def example_sandbox() -> Iterator[Sandbox]:
    """A started sandbox seeded with the example workspace (41 data schedules)."""
    with Sandbox(seed="example") as sb:
        yield sb
