"""A local sandbox of the Holistics API v2 (see `server.py`).

Nothing is imported eagerly: `reconciler.cli` imports the `sandbox` command (`command.py`) at every
start, which must not load the server, and `Sandbox` is loaded on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reconciler.sandbox.server import Sandbox

__all__ = ["DEFAULT_KEY", "DEFAULT_PORT", "Sandbox"]

from reconciler.sandbox.defaults import DEFAULT_KEY, DEFAULT_PORT


def __getattr__(name: str) -> Any:
    if name == "Sandbox":
        from reconciler.sandbox.server import Sandbox

        return Sandbox
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
