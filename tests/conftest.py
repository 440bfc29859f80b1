"""Every test's: the sandbox fixtures (tests/helpers.py), a cache outside the checkout, and the `slow`
marker on every end-to-end test (`pytest -m "not slow"` is the subset to run while working)."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import example_sandbox, sandbox

__all__ = ["example_sandbox", "sandbox"]


@pytest.fixture(autouse=True, scope="session")
def _schedule_cache_out_of_the_checkout(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The suite reads hundreds of throwaway files: their cache entries (reconciler.desired.filecache) go
    to the session's temporary directory, and the cache's key too, not the user's own cache directory."""
    patch = pytest.MonkeyPatch()
    patch.setenv("HOLISTICS_SCHEDULES_CACHE_DIR", str(tmp_path_factory.mktemp("schedule-cache")))
    patch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("user-cache")))  # the key, not the user's own
    yield
    patch.undo()


E2E = Path(__file__).parent / "e2e"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A subprocess per command, git repos, the release built: tests/e2e/ is slow as a whole."""
    for item in items:
        if item.path.is_relative_to(E2E):
            item.add_marker(pytest.mark.slow)
