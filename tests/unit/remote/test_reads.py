"""The listing's items handed over as they come (`Reads.remote(..., ahead)`): each listed item once, the
very object the listing returns (and at most the page where the two walks overlap besides); and a
failure there never fails the listing."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bench import workload
from reconciler.kinds.schedules import SCHEDULES
from reconciler.remote.reads import Reads
from reconciler.sandbox import Sandbox
from tests.helpers import fast_client


def test_each_listed_item_is_handed_over_as_the_listing_holds_it() -> None:
    with Sandbox(seed="empty") as sb:
        sb.control.put_schedules(workload.remote_schedules(450), validate=False)  # 5 pages, two walks
        seen: list[Mapping[str, Any]] = []
        with fast_client(sb) as client, Reads(client, SCHEDULES, lambda _: True, with_sources=False) as reads:
            listed = reads.remote([], seen.append)
        assert len(listed.schedules) == 450
        handed = [id(item) for item in seen]
        assert len(set(handed)) == len(handed)
        assert {id(item) for item in listed.schedules} <= set(handed)
        assert len(handed) - len(listed.schedules) < 100


def test_what_fails_on_an_item_fails_no_listing() -> None:
    with Sandbox(seed="empty") as sb:
        sb.control.put_schedules(workload.remote_schedules(150), validate=False)

        def broken(item: Mapping[str, Any]) -> None:
            raise ValueError("not for this item")

        with fast_client(sb) as client, Reads(client, SCHEDULES, lambda _: True, with_sources=False) as reads:
            assert [s["id"] for s in reads.remote([], broken).schedules] == [
                s["id"] for s in workload.remote_schedules(150)
            ]
