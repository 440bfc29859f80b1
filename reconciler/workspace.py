"""The remote side of a plan: every schedule the workspace has, read once through the list endpoint."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from reconciler.client import HolisticsClient, NotFound
from reconciler.yamlfiles import DesiredSchedule, InvalidSchedules, Problem


def read_remote(client: HolisticsClient, desired: Sequence[DesiredSchedule]) -> list[dict[str, Any]]:
    """All remote schedules (100 a page, no per-schedule GET), plus any id the YAML names that the
    listing leaves out (the default listing omits schedules made by embed users).

    An id that the workspace does not have at all is reported at its file and line.
    """
    remote = list(client.list_schedules())
    listed = {int(r["id"]) for r in remote}
    problems = []
    for entry in desired:
        if entry.id is None or entry.id in listed:
            continue
        try:
            remote.append(client.get_schedule(entry.id))
        except NotFound:
            problems.append(
                Problem(
                    entry.file,
                    entry.line_of("id"),
                    f"{entry.key}.id",
                    f"schedule {entry.id} was not found in the workspace (404); remove the id to create it anew",
                )
            )
    if problems:
        raise InvalidSchedules(problems)
    return remote
