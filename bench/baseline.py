"""The baseline: how a Terraform provider refreshes state, one GET per schedule, and its time model."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from reconciler.kinds.schedules import SCHEDULES
from reconciler.remote.client import HolisticsClient


def refresh(client: HolisticsClient) -> list[dict[str, Any]]:
    """List the ids (100 a page), then read each schedule by id, as a provider's Read does."""
    ids = [int(s["id"]) for s in client.list(SCHEDULES)]
    return [client.get(SCHEDULES, schedule_id) for schedule_id in ids]


@dataclass(frozen=True)
class QuotaModel:
    """Time for R sequential requests, each taking `per_request` s, under `count` per `window` s
    (a sliding window, as Holistics and the sandbox count): a burst of `count`, then a wait for the
    window to free the first slot, and so on."""

    count: int
    window: float
    per_request: float

    def seconds(self, requests: int) -> float:
        if requests <= 0:
            return 0.0
        full_windows = (requests - 1) // self.count
        rest = (requests - 1) % self.count + 1
        if full_windows == 0:
            return requests * self.per_request
        return full_windows * self.window + rest * self.per_request

    @staticmethod
    def refresh_requests(schedules: int) -> int:
        return math.ceil(schedules / 100) + schedules
