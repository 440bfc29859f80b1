"""What resolving names needs to know of a workspace, as a Protocol: the desired side resolves the
unames a schedule file writes (`dashboard:`, `dynamic_filter:`) against it without importing the
remote side, which implements it (`remote.catalog.Catalog`), and tests with a small dict-backed one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol


class NameCatalog(Protocol):
    def dashboard_ids(self, uname: str) -> Sequence[tuple[int, int | None]]:
        """(id, project id) of each dashboard with this uname: none, one, or several (AML projects)."""
        ...

    def dashboard_unames(self) -> Sequence[str]:
        """Every dashboard uname the workspace has, for "did you mean"."""
        ...

    def filter_ids(self, dashboard_id: int) -> Mapping[str, int | str] | None:
        """That dashboard's filters, uname -> id; None when its definition was not read."""
        ...
