"""The start of a plan: the workspace's read (every kind's listing and the catalog, `Listings`) on the
client made before the project config is read, so that it is under way while the rest of the plan's
code and the config's models load (issue 22: the first request went out 0.3 s into the process, after
0.2 s of imports it did not need). `planning.plan_for` takes it over. This module imports nothing of
the YAML, the config's models or the core: that is its point."""

from __future__ import annotations

import contextlib

from reconciler.kinds.known import KINDS
from reconciler.remote.client import HolisticsClient
from reconciler.remote.listings import Listings


def started(client: HolisticsClient | None) -> contextlib.AbstractContextManager[Listings | None]:
    """The workspace's read on `client`, started now, in a `with` block that cancels it on an error
    (a config that turns out invalid); None, and nothing started, without a client."""
    if client is None:
        return contextlib.nullcontext()
    return Listings(client, KINDS)
