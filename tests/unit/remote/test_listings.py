"""The listing's items handed over as they come (`Reads.watch`, then `Reads.remote`): each listed item once, the
very object the listing returns (and at most the page where the two walks overlap besides); and a
failure there never fails the listing."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from bench import alerts as alerts_bench
from bench import workload
from reconciler.kinds.alerts import ALERTS
from reconciler.kinds.schedules import SCHEDULES
from reconciler.remote.client import Cancelled
from reconciler.remote.listings import Arrivals, Listings, Reads
from reconciler.remote.reads import list_remote
from reconciler.sandbox import Sandbox
from tests.helpers import fast_client


def test_each_listed_item_is_handed_over_as_the_listing_holds_it() -> None:
    with Sandbox(seed="empty") as sb:
        sb.control.put_schedules(workload.remote_schedules(450), validate=False)  # 5 pages, two walks
        seen: list[Mapping[str, Any]] = []
        with fast_client(sb) as client, Reads(client, SCHEDULES, lambda _: True, with_sources=False) as reads:
            reads.watch(seen.append)
            listed = reads.remote([])
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
            reads.watch(broken)
            assert [s["id"] for s in reads.remote([]).schedules] == [s["id"] for s in workload.remote_schedules(150)]


def test_while_one_listing_is_waited_for_another_kinds_items_are_handed_over_as_they_come() -> None:
    """Every kind's items in one queue (issue 22): waiting for the schedules, the alerts listed meanwhile
    go to their own `ahead`; one that came before its `ahead` was known, as soon as it is."""
    arrivals = Arrivals()
    schedules, alerts = object(), object()
    seen: list[tuple[str, int]] = []
    arrivals.put(alerts, [{"id": 1}])
    arrivals.watch(schedules, lambda item: seen.append(("schedule", item["id"])))
    arrivals.put(schedules, [{"id": 10}])
    arrivals.put(alerts, [{"id": 2}])
    arrivals.put(schedules, None)
    arrivals.put(alerts, [{"id": 3}])  # after the schedules' end: waits for the alerts' own wait
    arrivals.put(alerts, None)
    arrivals.until_ended(schedules)
    assert seen == [("schedule", 10)], "no ahead for the alerts yet: theirs wait"
    arrivals.watch(alerts, lambda item: seen.append(("alert", item["id"])))
    assert seen == [("schedule", 10), ("alert", 1), ("alert", 2)]
    arrivals.until_ended(alerts)
    assert seen[-1] == ("alert", 3)


def test_a_watched_kind_is_handed_its_items_while_another_is_waited_for() -> None:
    arrivals = Arrivals()
    schedules, alerts = object(), object()
    seen: list[int] = []
    arrivals.watch(alerts, lambda item: seen.append(item["id"]))
    arrivals.watch(schedules, lambda item: None)
    for item in ([{"id": 1}, {"id": 2}], None):
        arrivals.put(alerts, item)
    arrivals.put(schedules, None)
    arrivals.until_ended(schedules)
    assert seen == [1, 2]


def test_two_kinds_listed_at_once_each_hand_every_item_to_its_own_ahead() -> None:
    with Sandbox(seed="empty") as sb:
        sb.control.put_schedules(workload.remote_schedules(250), validate=False)
        sb.control.put_alerts(alerts_bench.remote_alerts(150), validate=False)
        arrivals = Arrivals()
        seen: dict[str, list[int]] = {"schedules": [], "alerts": []}
        with (
            fast_client(sb) as client,
            Reads(client, SCHEDULES, lambda _: True, with_sources=False, arrivals=arrivals) as schedules,
            Reads(client, ALERTS, lambda _: True, with_sources=False, arrivals=arrivals) as alerts,
        ):
            alerts.watch(lambda item: seen["alerts"].append(item["id"]))
            schedules.watch(lambda item: seen["schedules"].append(item["id"]))
            listed = schedules.remote([])
            alerts_listed = alerts.remote([])
        assert set(seen["schedules"]) == {s["id"] for s in listed.schedules} and len(listed.schedules) == 250
        assert sorted(seen["alerts"]) == sorted(a["id"] for a in alerts_listed.schedules) and len(seen["alerts"]) == 150


class _SourcesAsked:
    """An API hook: records each dashboard or report asked for as it arrives, and holds every listing
    page but the first until `expected` were all asked (or a deadline passes): the reads ahead of the
    last page are then seen before the listing can end, not raced against it."""

    def __init__(self, expected: set[str]) -> None:
        self.expected, self.asked = expected, set[str]()
        self.lock, self.all_asked = threading.Lock(), threading.Event()
        if not expected:
            self.all_asked.set()

    def __call__(self, method: str, path: str, query: dict[str, list[str]]) -> None:
        if path.startswith(("/query_reports/", "/dashboards/")) and path != "/dashboards/list_metadata":
            with self.lock:
                self.asked.add(path)
                if self.expected <= self.asked:
                    self.all_asked.set()
        elif path == "/data_schedules" and ("after" in query or "sort" in query):
            self.all_asked.wait(10)


REPORTS = {
    f"/query_reports/{s['source_id']}" for s in workload.remote_schedules(300) if s["source_type"] == "QueryReport"
}


def _shown_when(shown: Callable[[Mapping[str, Any]], bool], *, scope: bool = True, expect: set[str]) -> set[str]:
    """The sources asked for while the listing was waited for, with `watch(shown)` and a catalog that
    has the dashboards' titles (the listing's later pages held until `expect` were asked)."""
    with Sandbox(seed="empty") as sb:
        sb.control.put_schedules(workload.remote_schedules(300), validate=False)
        hook = _SourcesAsked(expect)
        sb.control.set_api_hook(hook)
        with (
            fast_client(sb) as client,
            Reads(client, SCHEDULES, lambda _: scope, titles_by_get=lambda: False) as reads,
        ):
            reads.watch(shown)
            reads.remote([])
        return hook.asked


def test_an_item_the_plan_will_show_has_its_reports_title_read_before_the_last_page() -> None:
    """Issue 22: a report has no catalog; its title was read only after the last page."""
    read = _shown_when(lambda item: item["source_type"] == "QueryReport", expect=REPORTS)
    assert read == REPORTS  # and no dashboard: the catalog has their titles


def test_items_the_plan_will_not_show_or_does_not_own_have_no_source_read_ahead() -> None:
    assert _shown_when(lambda item: False, expect=set()) == set()
    assert _shown_when(lambda item: True, scope=False, expect=set()) == set()


def test_a_scope_given_after_the_listing_started_decides_what_is_read_ahead() -> None:
    """`Listings` start before the config is read (`plan_start`); the scope comes later (`scope_to`).
    Without a catalog, each in-scope item's source is read as it is listed, once the scope is known."""
    with Sandbox(seed="empty", list_metadata=False) as sb:
        sb.control.put_schedules(workload.remote_schedules(300), validate=False)
        hook = _SourcesAsked(REPORTS)
        sb.control.set_api_hook(hook)
        with fast_client(sb) as client, Listings(client, [SCHEDULES]) as listings:
            listings.scope_to(lambda item, kind: item["source_type"] == "QueryReport" and kind == "schedules")
            listings.reads["schedules"].remote([])
    assert hook.asked == REPORTS


def test_listings_abandoned_send_nothing_more() -> None:
    """The config asked for another client (`planning`): the reads started on this one stop, and the
    listing's first page, held by the server until then, is the last request its walk sends."""
    answer = threading.Event()

    def hold_first_page(method: str, path: str, query: dict[str, list[str]]) -> None:
        if path == "/data_schedules":
            answer.wait(30)

    with Sandbox(seed="empty") as sb:
        sb.control.put_schedules(workload.remote_schedules(300), validate=False)
        sb.control.set_api_hook(hold_first_page)
        with fast_client(sb) as client:
            listings = Listings(client, [SCHEDULES])
            listings.abandon()
            answer.set()
            with pytest.raises(Cancelled):
                listings.reads["schedules"].remote([])
            assert client.cancelled
        listed = [r for r in sb.control.requests() if r["path"] == "/data_schedules"]
    assert [r["query"] for r in listed] == [{"limit": "100"}]


@pytest.mark.parametrize("n", [0, 1, 99, 100, 101, 250, 1234])
def test_the_listing_built_from_views_seen_as_they_came_is_the_listing_read_at_once(n: int) -> None:
    """Each item's view takes the item's place in the listing whichever comes first, the item to the
    listing or its page to the thread that sees it through the spec; none is lost, moved or doubled."""
    with Sandbox(seed="empty") as sb:
        sb.control.put_schedules(workload.remote_schedules(n), validate=False)
        with fast_client(sb) as client:
            at_once = list_remote(client, SCHEDULES).schedules
            with Reads(client, SCHEDULES, lambda _: True, with_sources=False) as reads:
                reads.watch(lambda item: None)
                watched = reads.remote([]).schedules
            with Reads(client, SCHEDULES, lambda _: True, with_sources=False) as reads:
                unwatched = reads.remote([]).schedules
    assert watched == at_once == unwatched
    assert [s["id"] for s in watched] == sorted(s["id"] for s in watched) and len(watched) == n
