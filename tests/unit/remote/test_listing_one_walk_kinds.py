"""A listing that neither sorts nor counts (data alerts): one forward walk after `after` cursors,
that never sends `sort` or `page` and needs no `total_count`; the client asks each kind for its own."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from reconciler.kinds.alerts import ALERTS
from reconciler.kinds.schedules import SCHEDULES
from reconciler.remote.client import HolisticsClient
from reconciler.remote.client.listing import ListParams, Page, list_schedules


def pages_of(ids: list[int], size: int, counted: bool = False) -> tuple[list[dict[str, Any]], Any]:
    """A server of pages of `size` after a cursor (descending with `sort=id_desc`), with a
    total_count only when `counted` (an alert listing has none)."""
    sent: list[dict[str, Any]] = []

    def fetch(params: ListParams, stop: threading.Event | None) -> Page:
        sent.append(dict(params))
        down = params.get("sort") == "id_desc"
        after = params.get("after")
        order = sorted(ids, reverse=down)
        if after is not None:
            order = [i for i in order if (i < int(str(after)) if down else i > int(str(after)))]
        items = [{"id": i} for i in order[:size]]
        more = len(order) > size
        data: dict[str, Any] = {"data_alerts": items, "cursors": {"next": str(items[-1]["id"]) if more else None}}
        if counted:
            data["total_count"] = len(ids)
        return Page(items, data, False)

    return sent, fetch


def test_a_listing_that_does_not_sort_is_one_walk_without_sort_or_count() -> None:
    ids = list(range(1, 251))
    sent, fetch = pages_of(ids, 100, counted=True)  # even a count given is no reason to sort
    got = [item["id"] for item in list_schedules(fetch, {"limit": 100}, sorts=False)]
    assert got == ids
    assert len(sent) == 3 and not any("sort" in p or "page" in p for p in sent)


def test_a_listing_that_sorts_reads_from_both_ends_when_it_can() -> None:
    """The counter-test: the same server, for a kind that sorts, is also read with `sort=id_desc`."""
    ids = list(range(1, 251))
    sent, fetch = pages_of(ids, 100, counted=True)
    assert [item["id"] for item in list_schedules(fetch, {"limit": 100}, sorts=True)] == ids
    assert any(p.get("sort") == "id_desc" for p in sent)


def test_a_listing_without_a_count_is_complete_in_one_walk() -> None:
    ids = list(range(1, 251))
    _sent, fetch = pages_of(ids, 100)
    assert [item["id"] for item in list_schedules(fetch, {"limit": 100}, sorts=False)] == ids


@pytest.mark.parametrize(("kind", "sorts"), [(ALERTS, False), (SCHEDULES, True)])
def test_the_client_lists_each_kind_as_it_can_be_listed(
    monkeypatch: pytest.MonkeyPatch, kind: Any, sorts: bool
) -> None:
    seen: dict[str, Any] = {}

    def spy(fetch: Any, params: ListParams, *, sorts: bool = True) -> Any:
        seen.update(params=params, sorts=sorts, fetch=fetch)
        return iter([])

    monkeypatch.setattr("reconciler.remote.client.listing.list_schedules", spy)
    with HolisticsClient("http://127.0.0.1:9/api/v2", "key-1234") as client:
        assert list(client.list(kind)) == []
    assert seen["sorts"] is sorts and seen["params"] == {"limit": 100}
    assert seen["fetch"].args == (kind,)
