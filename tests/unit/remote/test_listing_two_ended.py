"""The listing read from both ends at once (`reconciler.remote.client.listing`), and `HolisticsClient.cancel()`.

Against the real sandbox on loopback. What happens between two pages is arranged with the sandbox's
API hook (`Control.set_api_hook`), which runs in the handler thread before a request is answered: it
edits the workspace, plays a server that ignores or refuses `sort`, or holds the ascending walk's
second page until the descending walk has asked for its first, so both walks are surely in play.
No test sleeps: the threads meet on events, each with a generous deadline against a hang.
"""

from __future__ import annotations

import copy
import json
import math
import random
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from bench.workload import FIRST_ID, remote_schedules
from reconciler.kinds.schedules import SCHEDULES
from reconciler.remote.client import (
    Cancelled,
    HolisticsClient,
    HolisticsError,
    RateLimiter,
    ServerError,
    UnexpectedResponse,
)
from reconciler.remote.client.listing import Page, list_schedules
from reconciler.sandbox import Sandbox
from reconciler.sandbox.api import ApiError, decode_cursor

DEADLINE = 30.0  # seconds; only ever reached when something hangs
DESCENDING_THREAD = "holistics-list-descending"
Query = dict[str, list[str]]


@pytest.fixture
def sb() -> Iterator[Sandbox]:
    with Sandbox(seed="empty") as sandbox:
        yield sandbox


def client_of(sb: Sandbox, **kwargs: Any) -> HolisticsClient:
    return HolisticsClient(sb.base_url, sb.key, **kwargs)


def is_descending(query: Query) -> bool:
    return query.get("sort") == ["id_desc"]


def listing_requests(sb: Sandbox) -> list[dict[str, Any]]:
    return [r for r in sb.control.requests() if r["method"] == "GET" and r["path"] == "/data_schedules"]


def walks(sb: Sandbox) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The listing requests of the ascending walk (no sort: the default, id_asc) and the descending one."""
    requests = listing_requests(sb)
    descending = [r for r in requests if r["query"].get("sort") == "id_desc"]
    ascending = [r for r in requests if "sort" not in r["query"]]
    assert len(ascending) + len(descending) == len(requests), requests
    return ascending, descending


def ids(schedules: list[dict[str, Any]]) -> list[int]:
    return [s["id"] for s in schedules]


def stored(sb: Sandbox, n: int, *, step: int = 1) -> list[dict[str, Any]]:
    """`n` schedules in the sandbox, ids FIRST_ID, FIRST_ID + step, ...; returns them as stored."""
    schedules = remote_schedules(n)
    for i, schedule in enumerate(schedules):
        schedule["id"] = FIRST_ID + i * step
    sb.control.put_schedules(schedules, validate=False)
    return sb.control.schedules()


class BothWalks:
    """An API hook: the ascending walk's second page waits until `then` (if given) has seen the
    descending walk's first request, so both walks surely run; `then` sees every listing request."""

    def __init__(self, then: Callable[[str, str, Query], None] | None = None) -> None:
        self.descending_asked = threading.Event()
        self.then = then

    def __call__(self, method: str, path: str, query: Query) -> None:
        if method != "GET" or path != "/data_schedules":
            return
        descending = is_descending(query)  # before `then`, which may change the query
        if "after" in query and not descending:
            self.descending_asked.wait(DEADLINE)
        try:
            if self.then is not None:
                self.then(method, path, query)
        finally:
            if descending:
                self.descending_asked.set()


# ---------------------------------------------------------------------------------------------------
# the same result as one walk, in about half the round trips


@pytest.mark.parametrize("n", [0, 1, 100, 101, 250, 1000])
def test_both_walks_give_what_one_walk_gives(sb: Sandbox, n: int) -> None:
    expected = stored(sb, n)
    sb.control.set_api_hook(BothWalks())
    with client_of(sb) as client:
        got = list(client.list(SCHEDULES))
    ascending, descending = walks(sb)
    sb.control.set_api_hook(None)
    sb.control.clear_requests()
    with client_of(sb) as client:
        one_walk = list(client.list(SCHEDULES, sort="id_asc"))  # an explicit sort is one walk
    assert len(listing_requests(sb)) == max(1, math.ceil(n / 100))
    # the same dicts in the same order, so whatever is rendered from them is byte for byte the same
    assert json.dumps(got) == json.dumps(one_walk) == json.dumps(expected)
    pages = max(1, math.ceil(n / 100))
    if n <= 100:  # one page: read alone, as it always was
        assert (len(ascending), len(descending)) == (1, 0)
    else:
        assert len(descending) >= 1
        assert pages <= len(ascending) + len(descending) <= pages + 1
    for request in ascending + descending:
        assert request["query"]["limit"] == "100" and "page" not in request["query"]


def test_filters_go_to_both_walks(sb: Sandbox) -> None:
    everything = stored(sb, 1000)
    sb.control.set_api_hook(BothWalks())
    with client_of(sb) as client:
        got = list(client.list(SCHEDULES, source_type="Dashboard"))
    ascending, descending = walks(sb)
    assert descending and all(r["query"]["source_type"] == "Dashboard" for r in ascending + descending)
    assert got == [s for s in everything if s["source_type"] == "Dashboard"]


@pytest.mark.parametrize("filters", [{"sort": "id_asc"}, {"sort": "title_desc"}, {"limit": 1}])
def test_an_explicit_sort_or_one_schedule_a_page_is_one_walk(sb: Sandbox, filters: dict[str, Any]) -> None:
    expected = stored(sb, 250 if "sort" in filters else 5)
    with client_of(sb) as client:
        got = list(client.list(SCHEDULES, **filters))
    requests = listing_requests(sb)
    assert [r["query"].get("sort") for r in requests] == [filters.get("sort")] * len(requests)
    assert len(requests) == (3 if "sort" in filters else 5)
    assert sorted(ids(got)) == ids(expected)
    if filters.get("sort") == "title_desc":
        assert [s["title"].lower() for s in got] == sorted((s["title"].lower() for s in got), reverse=True)


def test_the_ascending_walk_comes_as_it_is_read(sb: Sandbox) -> None:
    first = stored(sb, 1000)[0]
    with client_of(sb) as client:
        listing = client.list(SCHEDULES)
        assert next(listing) == first
        assert len(listing_requests(sb)) == 1
        listing.close()  # the descending walk never started; closing stops nothing that runs
    assert DESCENDING_THREAD not in {t.name for t in threading.enumerate()}


# ---------------------------------------------------------------------------------------------------
# exact while the workspace changes


class Editor:
    """Before every listing request: deletes up to `k` random schedules and creates up to `k` at
    random free ids (below, between and above the others), in one step, through the sandbox's control.
    (Unequal numbers, mostly: with the total_count unchanged, the client checks the merged count.)"""

    def __init__(self, sb: Sandbox, seed: int, k: int = 4) -> None:
        self.sb = sb
        self.rng = random.Random(seed)
        self.k = k
        self.lock = threading.Lock()
        self.deleted: set[int] = set()
        self.created: set[int] = set()
        self.edits = 0

    def __call__(self, method: str, path: str, query: Query) -> None:
        with self.lock:
            current = self.sb.control.schedules()
            present = {s["id"] for s in current}
            gone = set(self.rng.sample(sorted(present), self.rng.randint(0, min(self.k, len(present)))))
            low, high = min(present | {FIRST_ID}) - 30, max(present | {FIRST_ID}) + 30
            free = [i for i in range(low, high) if i not in present and i not in self.deleted | self.created]
            new = self.rng.sample(free, self.rng.randint(0, self.k))
            template = current[0]
            made = [{**copy.deepcopy(template), "id": i, "title": f"made mid-walk {i}"} for i in new]
            self.sb.control.put_schedules([s for s in current if s["id"] not in gone] + made, validate=False)
            self.deleted |= gone
            self.created |= set(new)
            self.edits += 1


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(6))
def test_creations_and_deletions_between_pages_lose_nothing_and_repeat_nothing(sb: Sandbox, seed: int) -> None:
    initial = {s["id"] for s in stored(sb, 1000, step=3)}  # gaps, so schedules can appear in between
    editor = Editor(sb, seed)
    hook = BothWalks(then=editor)
    sb.control.set_api_hook(hook)
    with client_of(sb) as client:
        got = ids(list(client.list(SCHEDULES)))
    _, descending = walks(sb)
    assert descending and editor.edits >= 3
    assert got == sorted(set(got)), "in ascending order, none twice"
    assert not (initial - editor.deleted) - set(got), "a schedule that existed throughout was missed"
    assert set(got) <= initial | editor.created


@pytest.mark.slow
def test_deleting_the_next_schedule_of_each_walk_hides_no_other(sb: Sandbox) -> None:
    # what breaks offset paging: every page starts one schedule later than it would have
    initial = {s["id"] for s in stored(sb, 1000)}
    deleted: set[int] = set()
    lock = threading.Lock()  # the two walks' requests are handled at once

    def delete_next(method: str, path: str, query: Query) -> None:
        if "after" not in query:
            return
        (cursor,) = decode_cursor(query["after"][0], [0])
        with lock:
            remaining = sb.control.schedules()
            beyond = [s["id"] for s in remaining if (s["id"] < cursor if is_descending(query) else s["id"] > cursor)]
            if beyond:
                victim = max(beyond) if is_descending(query) else min(beyond)
                deleted.add(victim)
                sb.control.put_schedules([s for s in remaining if s["id"] != victim], validate=False)

    sb.control.set_api_hook(BothWalks(then=delete_next))
    with client_of(sb) as client:
        got = ids(list(client.list(SCHEDULES)))
    assert walks(sb)[1] and len(deleted) >= 3
    assert got == sorted(set(got)) and set(got) <= initial
    # a deleted schedule may still be in it (read before it went), every other one is
    assert initial - deleted <= set(got)


# ---------------------------------------------------------------------------------------------------
# one walk where the server cannot do two


@pytest.mark.parametrize("status", [400, 422])
def test_a_refused_descending_sort_falls_back_to_one_walk(sb: Sandbox, status: int) -> None:
    expected = stored(sb, 1000)

    def refuse(method: str, path: str, query: Query) -> None:
        if is_descending(query):
            raise ApiError(status, "InvalidParameterError", "sort does not have a valid value")

    sb.control.set_api_hook(BothWalks(then=refuse))
    with client_of(sb) as client:
        assert list(client.list(SCHEDULES)) == expected
    ascending, descending = walks(sb)
    assert [r["status"] for r in descending] == [status]
    assert len(ascending) == 10  # the ascending walk went to the end alone


def ignore_sort(method: str, path: str, query: Query) -> None:
    query.pop("sort", None)  # an older server: every page comes ascending


def ignore_sort_one_a_page(method: str, path: str, query: Query) -> None:
    if is_descending(query):  # ascending pages of one schedule: no order to see in one page
        query.pop("sort")
        query["limit"] = ["1"]


def ignore_after_descending(method: str, path: str, query: Query) -> None:
    if is_descending(query):  # the first descending page, again and again
        query.pop("after", None)


@pytest.mark.parametrize("server", [ignore_sort, ignore_sort_one_a_page, ignore_after_descending])
def test_a_server_that_ignores_the_descending_sort_gets_one_walk(
    sb: Sandbox, server: Callable[[str, str, Query], None]
) -> None:
    expected = stored(sb, 1000)
    sb.control.set_api_hook(BothWalks(then=server))
    with client_of(sb) as client:
        assert list(client.list(SCHEDULES)) == expected
    ascending, descending = walks(sb)
    assert descending and len(descending) <= 2
    if server is not ignore_after_descending:  # there the first descending page is true, and may be used
        assert len(ascending) == 10


def test_ascending_pages_ignoring_the_sort_with_small_pages_are_not_a_meeting(sb: Sandbox) -> None:
    expected = stored(sb, 9)
    sb.control.set_api_hook(BothWalks(then=ignore_sort))
    with client_of(sb) as client:
        assert list(client.list(SCHEDULES, limit=2)) == expected
    ascending, _ = walks(sb)
    assert len(ascending) == 5


def test_a_server_not_ordered_by_id_is_one_walk_in_its_own_order(sb: Sandbox) -> None:
    stored(sb, 250)

    def by_title(method: str, path: str, query: Query) -> None:
        query.setdefault("sort", ["title_asc"])

    with client_of(sb) as client:
        in_title_order = list(client.list(SCHEDULES, sort="title_asc"))
        sb.control.set_api_hook(by_title)
        sb.control.clear_requests()
        assert list(client.list(SCHEDULES)) == in_title_order  # as it comes, as one walk gives it
    assert walks(sb)[1] == []
    assert ids(in_title_order) != sorted(ids(in_title_order))


# ---------------------------------------------------------------------------------------------------
# errors


def test_an_error_of_the_descending_walk_is_raised_and_stops_the_ascending(sb: Sandbox) -> None:
    stored(sb, 1000)

    def fail_descending(method: str, path: str, query: Query) -> None:
        if is_descending(query):
            raise ApiError(503, "MaintenanceError", "down for maintenance")
        if "after" in query:  # the ascending walk's next page waits until the other walk gave up
            thread = next((t for t in threading.enumerate() if t.name == DESCENDING_THREAD), None)
            if thread is not None:
                thread.join(DEADLINE)

    sb.control.set_api_hook(fail_descending)
    with client_of(sb, max_retries=1, sleep=lambda seconds: None) as client, pytest.raises(ServerError) as err:
        list(client.list(SCHEDULES))
    assert "503" in str(err.value)
    ascending, descending = walks(sb)
    # both attempts of the descending walk, and the ascending walk stopped at its second page (which
    # waited for the other walk to give up, unless it was not even sent by then)
    assert len(descending) == 2 and len(ascending) in (1, 2)


def test_an_error_of_the_ascending_walk_is_raised_and_the_descending_ends(sb: Sandbox) -> None:
    stored(sb, 1000)

    def fail_second_ascending(method: str, path: str, query: Query) -> None:
        if "after" in query and not is_descending(query):
            raise ApiError(500, "InternalHolisticsError", "boom")

    sb.control.set_api_hook(BothWalks(then=fail_second_ascending))
    with client_of(sb, max_retries=0) as client, pytest.raises(ServerError):
        list(client.list(SCHEDULES))
    assert DESCENDING_THREAD not in {t.name for t in threading.enumerate()}


def test_a_rejected_key_is_one_request(sb: Sandbox) -> None:
    stored(sb, 1000)
    with HolisticsClient(sb.base_url, "not-the-key") as client, pytest.raises(HolisticsError, match="rejected"):
        list(client.list(SCHEDULES))
    assert len(listing_requests(sb)) == 1


def test_a_descending_walk_that_repeats_a_page_is_dropped_not_followed(sb: Sandbox) -> None:
    stored(sb, 1000)
    first_next: list[str] = []

    def loop_descending(method: str, path: str, query: Query) -> None:
        if is_descending(query) and "after" in query:
            # the page after the first one's cursor, again: the server repeats itself
            if not first_next:
                first_next.append(query["after"][0])
            query["after"] = [first_next[0]]

    sb.control.set_api_hook(BothWalks(then=loop_descending))
    with client_of(sb) as client:
        got = list(client.list(SCHEDULES))
    # the repeated page is out of order for the walk (its ids are not below its last), so the walk is
    # dropped before its cursor could be followed again
    assert got == sb.control.schedules()
    assert len(walks(sb)[1]) <= 3


# ---------------------------------------------------------------------------------------------------
# cancel()


def test_cancel_before_a_request_sends_nothing(sb: Sandbox) -> None:
    with client_of(sb) as client:
        client.cancel()
        client.cancel()  # idempotent
        assert client.cancelled
        with pytest.raises(Cancelled) as err:
            list(client.list(SCHEDULES))
        with pytest.raises(Cancelled):
            client.get(SCHEDULES, 1)
    assert isinstance(err.value, HolisticsError) and str(err.value) == "cancelled"
    assert sb.control.requests() == []


def listing_in_a_thread(client: HolisticsClient, outcome: list[BaseException | None]) -> threading.Thread:
    """The whole listing in a thread of its own (started); how it ended goes into `outcome`."""

    def list_again() -> None:
        try:
            list(client.list(SCHEDULES))
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=list_again)
    thread.start()
    return thread


def test_cancel_wakes_a_wait_for_retry_after_at_once(sb: Sandbox) -> None:
    sb.control.set_rate_limit(1, 600)  # the second request is told to come back in 600 s (capped to 60)
    waiting = threading.Event()
    outcome: list[BaseException | None] = []
    with client_of(sb, on_event=lambda text: waiting.set()) as client:
        list(client.list(SCHEDULES))

        thread = listing_in_a_thread(client, outcome)
        assert waiting.wait(DEADLINE)  # it got the 429 and is about to wait out the Retry-After
        client.cancel()
        thread.join(DEADLINE)
        assert not thread.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], Cancelled)
    assert [r["status"] for r in sb.control.requests()] == [200, 429]


def test_cancel_wakes_the_rate_limiters_own_wait(sb: Sandbox) -> None:
    limiter = RateLimiter.from_text("1/600")  # the CLI's kind: the second request may go in 10 minutes
    outcome: list[BaseException | None] = []
    with client_of(sb, rate_limiter=limiter) as client:
        list(client.list(SCHEDULES))

        thread = listing_in_a_thread(client, outcome)
        client.cancel()
        thread.join(DEADLINE)
        assert not thread.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], Cancelled)
    assert len(sb.control.requests()) == 1


def test_cancel_with_an_injected_sleep_sends_no_retry(sb: Sandbox) -> None:
    sb.control.add_fault("GET", "/data_schedules", status=503, count=None)
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        client.cancel()  # someone cancels while this retry waits

    client = client_of(sb, max_retries=4, sleep=sleep)
    with client, pytest.raises(Cancelled):
        list(client.list(SCHEDULES))
    assert len(slept) == 1 and len(sb.control.requests()) == 1


def test_cancel_stops_both_walks(sb: Sandbox) -> None:
    stored(sb, 1000)
    client = client_of(sb)

    def cancel_at_first_descending(method: str, path: str, query: Query) -> None:
        if is_descending(query) and "after" not in query:
            client.cancel()

    sb.control.set_api_hook(BothWalks(then=cancel_at_first_descending))
    with client, pytest.raises(Cancelled):
        list(client.list(SCHEDULES))
    ascending, descending = walks(sb)
    # each walk's next request comes only once the page before it is answered, which is after the
    # cancel: none was sent (the ascending walk's second page, sent or not by then, is answered after it)
    assert len(descending) == 1 and len(ascending) in (1, 2)
    assert DESCENDING_THREAD not in {t.name for t in threading.enumerate()}


# ---------------------------------------------------------------------------------------------------
# the walk logic against scripted servers (no HTTP): orders the sandbox cannot be made to give


class Scripted:
    """A list endpoint over `ids`, `limit` a page, whose pages `twist(descending, number, ids)` may
    change, and whose cursors `recursor(descending, number, cursor)` may. As the client does, a set
    stop event raises Cancelled before anything is asked. The ascending walk's second page waits until
    the descending walk asked for its first; with `hold`, until the descending walk is over."""

    def __init__(
        self,
        ids: list[int],
        twist: Callable[[bool, int, list[int]], list[int]] | None = None,
        *,
        limit: int = 10,
        hold: bool = False,
        recursor: Callable[[bool, int, str | None], str | None] | None = None,
    ) -> None:
        self.ids = sorted(ids)
        self.twist = twist
        self.recursor = recursor
        self.limit = limit
        self.hold = hold
        self.lock = threading.Lock()
        self.asked: list[tuple[bool, int]] = []
        self.descending_asked = threading.Event()

    def fetch(self, params: dict[str, Any], stop: threading.Event | None) -> Page:
        if stop is not None and stop.is_set():
            raise Cancelled(method="GET", path="/data_schedules")
        descending = params.get("sort") == "id_desc"
        after = params.get("after")
        if after is not None and not descending:
            self.descending_asked.wait(DEADLINE)
            thread = next((t for t in threading.enumerate() if t.name == DESCENDING_THREAD), None)
            if self.hold and thread is not None:
                thread.join(DEADLINE)
        order = sorted(self.ids, reverse=descending)
        if after is not None:
            order = [i for i in order if (i < int(str(after)) if descending else i > int(str(after)))]
        with self.lock:
            number = sum(1 for d, _ in self.asked if d == descending) + 1
            self.asked.append((descending, number))
        if descending:
            self.descending_asked.set()
        chunk = order[: self.limit]
        cursor = str(chunk[-1]) if len(order) > self.limit else None  # where the server really is
        if self.twist is not None:
            chunk = self.twist(descending, number, chunk)
        if self.recursor is not None:
            cursor = self.recursor(descending, number, cursor)
        data = {"total_count": len(self.ids), "cursors": {"next": cursor}}
        return Page([{"id": i} for i in chunk], data, redacted=False)


def run(server: Scripted) -> list[int]:
    return ids(list(list_schedules(server.fetch, {"limit": server.limit})))


@pytest.mark.parametrize("every", [1, 2, 7])
def test_scripted_two_walks_meet_exactly(every: int) -> None:
    server = Scripted(list(range(1, 400, every)))
    assert run(server) == list(range(1, 400, every))
    assert (True, 1) in server.asked


def test_a_descending_walk_out_of_order_on_a_later_page_is_dropped() -> None:
    def shuffle_third(descending: bool, number: int, chunk: list[int]) -> list[int]:
        return sorted(chunk) if descending and number == 3 else chunk

    server = Scripted(list(range(1, 301)), shuffle_third, hold=True)
    assert run(server) == list(range(1, 301))
    assert [n for d, n in server.asked if d] == [1, 2, 3]
    assert len([n for d, n in server.asked if not d]) == 30  # then the ascending walk alone, to the end


@pytest.mark.parametrize(
    "first_page",
    [
        pytest.param([10, 9, 8, 7, 6, 5, 4, 3, 2, 1], id="cut-then-sorted"),  # the first ascending page, reversed
        pytest.param([12, 11], id="not-from-the-top"),  # abuts the first ascending page: only the count tells
    ],
)
def test_a_descending_walk_not_starting_at_the_top_is_dropped(first_page: list[int]) -> None:
    # in order, but not from the top: trusted, its "lowest id" would end the listing after a page or two
    def start_low(descending: bool, number: int, chunk: list[int]) -> list[int]:
        return first_page if descending and number == 1 else chunk

    server = Scripted(list(range(1, 301)), start_low, hold=True)
    assert run(server) == list(range(1, 301))
    assert [n for d, n in server.asked if d] == [1]


def test_a_looping_cursor_of_the_descending_walk_is_an_error() -> None:
    def stuck(descending: bool, number: int, cursor: str | None) -> str | None:
        return "291" if descending else cursor  # pages in order, but the same cursor every time

    server = Scripted(list(range(1, 301)), hold=True, recursor=stuck)
    with pytest.raises(UnexpectedResponse, match="twice"):
        run(server)
    assert [n for d, n in server.asked if d] == [1, 2]


def test_an_ascending_walk_out_of_order_later_goes_on_as_one_walk_as_it_comes() -> None:
    descending_may_go = threading.Event()

    def reverse_third(descending: bool, number: int, chunk: list[int]) -> list[int]:
        if descending:
            descending_may_go.wait(DEADLINE)  # only once the ascending walk went out of order
            return chunk
        if number == 3:
            descending_may_go.set()
            return list(reversed(chunk))
        return chunk

    got = run(Scripted(list(range(1, 301)), reverse_third))
    assert got == [*range(1, 21), *range(30, 20, -1), *range(31, 301)]


# ---------------------------------------------------------------------------------------------------
# `early`: every page of either walk, as it is taken


@pytest.mark.parametrize(("n", "limit"), [(5, 10), (95, 10), (400, 10)])
def test_early_sees_every_page_of_both_walks_in_the_walks_own_threads(n: int, limit: int) -> None:
    """What the listing yields was each shown to `early` first, in the thread of the walk that read it,
    so a caller can work on the items while the walks go on (issue 22)."""
    server = Scripted(list(range(1, n + 1)), limit=limit)
    previewed: dict[int, str] = {}
    lock = threading.Lock()

    def early(items: list[Any]) -> None:
        with lock:
            for item in items:
                previewed.setdefault(id(item), threading.current_thread().name)

    listed = list(list_schedules(server.fetch, {"limit": limit}, early=early))
    assert ids(listed) == list(range(1, n + 1))
    assert all(id(item) in previewed for item in listed)
    threads = {previewed[id(item)] for item in listed}
    expected = {threading.current_thread().name} | ({DESCENDING_THREAD} if n > limit else set())
    assert threads == expected


def test_what_early_raises_changes_nothing_in_the_listing() -> None:
    def early(items: list[Any]) -> None:
        raise RuntimeError("a preview failed")

    listed = list_schedules(Scripted(list(range(1, 60)), limit=10).fetch, {"limit": 10}, early=early)
    assert ids(list(listed)) == list(range(1, 60))
