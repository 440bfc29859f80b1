from collections.abc import Iterator

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
