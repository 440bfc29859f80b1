"""The listing (`reconciler.remote.client.listing`) against fuzzed servers, without sockets.

A fake list endpoint hands out a fresh opaque cursor token for every page and can misbehave: a next
cursor that leads back to the start, a cursor string given twice, a page that restarts from the
first, a cursor that skips schedules (a gap), a descending walk that starts below the top, pages that
promise more but hold nothing, or schedules made up forever. Between requests, schedules are
created (above every id, as Holistics assigns them) and deleted. Whatever it does, the listing ends
within a bounded number of requests, never returns a schedule twice, never misses one that existed
throughout, and where it cannot be exact it raises `UnexpectedResponse` with a message saying why.
Hypothesis runs derandomized, so the examples are the same on every run.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.remote.client import Cancelled, UnexpectedResponse
from reconciler.remote.client.listing import EDIT_MARGIN, MAX_EMPTY_PAGES, Page, list_schedules

RUNAWAY = 5_000  # requests; the fake server stops a listing that passed every bound the client has


class Runaway(Exception):
    """The listing kept asking: it would not have ended."""


@dataclass
class Edit:
    """Before request number `at`: delete the ids at these positions (modulo), create `create` new ones."""

    at: int
    delete: list[int]
    create: int


@dataclass
class Fault:
    """What the server does wrong, on one walk's page `page` (1 = its first)."""

    kind: str  # see FAULTS
    descending: bool = False
    page: int = 1
    size: int = 1  # how many ids a gap skips, or how far below the top the descending walk starts


FAULTS = ["loop", "repeat-cursor", "restart", "gap", "below-top", "empty-forever", "made-up-forever"]


@dataclass
class Server:
    ids: list[int]
    limit: int
    edits: list[Edit] = field(default_factory=list)
    fault: Fault | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    requests: int = 0
    pages: dict[bool, int] = field(default_factory=lambda: {False: 0, True: 0})
    positions: dict[str, int | None] = field(default_factory=dict)  # cursor token -> last id before it
    tokens: int = 0
    deleted: set[int] = field(default_factory=set)
    created: set[int] = field(default_factory=set)
    made_up: int = 0
    max_total: int = 0

    def fetch(self, params: dict[str, Any], stop: threading.Event | None) -> Page:
        time.sleep(0)  # lets the other walk's thread run, so the walks interleave (not a synchronisation)
        if stop is not None and stop.is_set():
            raise Cancelled(method="GET", path="/data_schedules")
        with self.lock:
            self.requests += 1
            if self.requests > RUNAWAY:
                raise Runaway(f"{self.requests} requests")
            self._edit()
            descending = params.get("sort") == "id_desc"
            self.pages[descending] += 1
            number = self.pages[descending]
            after = params.get("after")
            position = self.positions[str(after)] if after is not None else None
            return self._page(descending, number, position)

    def _edit(self) -> None:
        for edit in self.edits:
            if edit.at == self.requests:
                gone = {self.ids[i % len(self.ids)] for i in edit.delete} if self.ids else set()
                top = max([*self.ids, *self.deleted, *self.created, 0])
                new = list(range(top + 1, top + 1 + edit.create))
                self.ids = sorted((set(self.ids) - gone) | set(new))
                self.deleted |= gone
                self.created |= set(new)

    def _fault(self, descending: bool, number: int) -> str | None:
        fault = self.fault
        if fault is None or fault.descending != descending:
            return None
        persistent = fault.kind in ("empty-forever", "made-up-forever")
        return fault.kind if number == fault.page or (persistent and number > fault.page) else None

    def _page(self, descending: bool, number: int, position: int | None) -> Page:
        fault = self._fault(descending, number)
        order = sorted(self.ids, reverse=descending)
        if fault == "below-top" and position is None:
            order = order[self.fault.size if self.fault else 0 :]
        if position is not None and fault != "restart":
            order = [i for i in order if (i < position if descending else i > position)]
        chunk, more = order[: self.limit], len(order) > self.limit
        nxt = chunk[-1] if chunk else position
        if fault == "gap" and more and self.fault is not None:
            nxt = order[min(len(order) - 1, self.limit - 1 + self.fault.size)]
        if fault == "empty-forever":
            chunk, more = [], True
        if fault == "made-up-forever":
            top = max([*self.ids, *self.deleted, *self.created, self.made_up, 0])
            chunk, more = list(range(top + 1, top + 1 + self.limit)), True
            self.made_up = chunk[-1]
        if fault == "loop":
            nxt, more = None, True  # back to the start, with a token never seen before
        self.max_total = max(self.max_total, len(self.ids))
        return Page([{"id": i} for i in chunk], self._answer(more, nxt, fault), redacted=False)

    def _answer(self, more: bool, nxt: int | None, fault: str | None) -> dict[str, Any]:
        token = None
        if more:
            self.tokens += 1
            token = f"tok-{self.tokens}"
            self.positions[token] = nxt
            if fault == "repeat-cursor" and len(self.positions) > 1:
                token = next(iter(self.positions))  # the first token this server gave, again
        return {"total_count": len(self.ids), "cursors": {"next": token, "previous": None}}


def listed(server: Server, **params: Any) -> list[int]:
    return [s["id"] for s in list_schedules(server.fetch, {"limit": server.limit, **params})]


def request_bound(server: Server) -> int:
    """What the listing may ask at most: a page for each schedule it may read, both walks, plus the
    empty pages and last pages it allows."""
    most = 2 * max(server.max_total, len(server.ids)) + EDIT_MARGIN
    return 2 * (most + MAX_EMPTY_PAGES + 2)


def check(server: Server, initial: set[int], got: list[int] | None) -> None:
    assert server.requests <= request_bound(server)
    if got is None:
        return
    assert len(got) == len(set(got)), "a schedule listed twice"
    throughout = initial - server.deleted
    assert not throughout - set(got), "a schedule that existed throughout was missed"
    assert set(got) <= initial | server.created


def run(server: Server, **params: Any) -> list[int] | None:
    """The listing's result, or None when it raised the listing's clear error."""
    try:
        return listed(server, **params)
    except UnexpectedResponse as exc:
        assert "GET /data_schedules" in str(exc)
        return None


workspaces = st.lists(st.integers(1, 400), max_size=80, unique=True).map(sorted)
limits = st.sampled_from([1, 2, 3, 5, 10])
edit_lists = st.lists(
    st.builds(
        Edit,
        at=st.integers(1, 40),
        delete=st.lists(st.integers(0, 1000), max_size=3),
        create=st.integers(0, 3),
    ),
    max_size=8,
)
SETTINGS = settings(
    max_examples=300, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None
)


@pytest.mark.slow
@SETTINGS
@given(ids=workspaces, limit=limits, edits=edit_lists, sort=st.sampled_from([None, "id_asc"]))
def test_an_honest_server_is_listed_exactly_while_schedules_come_and_go(
    ids: list[int], limit: int, edits: list[Edit], sort: str | None
) -> None:
    server = Server(ids, limit, edits)
    got = listed(server, **({"sort": sort} if sort else {}))  # no error: an honest server is never refused
    check(server, set(ids), got)
    assert got == sorted(got)


faults = st.builds(
    Fault,
    kind=st.sampled_from(FAULTS),
    descending=st.booleans(),
    page=st.integers(1, 6),
    size=st.integers(1, 5),
)


@pytest.mark.slow
@SETTINGS
@given(ids=workspaces, limit=limits, edits=edit_lists, fault=faults)
def test_a_dishonest_server_gets_an_exact_listing_or_a_clear_error(
    ids: list[int], limit: int, edits: list[Edit], fault: Fault
) -> None:
    # a gap (an ascending walk starting past its first schedules is one) cannot be told from a deletion
    # while the count changes: only a still workspace shows it
    gap = fault.kind == "gap" or (fault.kind == "below-top" and not fault.descending)
    server = Server(ids, limit, [] if gap else edits, fault)
    check(server, set(ids), run(server))


@pytest.mark.slow
@settings(SETTINGS, max_examples=25)  # each example walks up to a thousand made-up pages
@given(ids=st.lists(st.integers(1, 400), min_size=31, max_size=80, unique=True).map(sorted), limit=limits)
def test_a_server_that_never_ends_is_an_error(ids: list[int], limit: int) -> None:
    for kind in ("empty-forever", "made-up-forever", "loop", "repeat-cursor"):
        server = Server(ids, limit, fault=Fault(kind, page=2))
        with pytest.raises(UnexpectedResponse, match=r"stopping|twice"):
            listed(server, sort="id_asc")  # one walk: two could meet before its second page is used
        assert server.requests <= request_bound(server)


def test_a_next_cursor_back_to_the_start_with_a_fresh_token_ends_at_once() -> None:
    server = Server(list(range(1, 301)), 10, fault=Fault("loop", page=3))
    with pytest.raises(UnexpectedResponse, match="returned schedule 1 twice"):
        listed(server, sort="id_asc")
    assert server.pages[False] == 4  # the page that led back, then the first page again


def test_a_descending_walk_starting_below_the_top_is_not_trusted_while_schedules_come_and_go() -> None:
    # what the count alone missed when totals differed between pages: a miss of 291..300
    edits = [Edit(at=n, delete=[n * 7], create=0) for n in range(2, 30)]
    server = Server(list(range(1, 301)), 10, edits, Fault("below-top", descending=True, size=10))
    got = listed(server)
    check(server, set(range(1, 301)), got)
    assert set(range(291, 301)) <= set(got)


def test_a_gap_in_a_still_workspace_is_an_error() -> None:
    server = Server(list(range(1, 101)), 10, fault=Fault("gap", page=2, size=3))
    with pytest.raises(UnexpectedResponse, match="skipped"):
        listed(server, sort="id_asc")


def test_made_up_schedules_stop_near_twice_the_count() -> None:
    server = Server(list(range(1, 51)), 10, fault=Fault("made-up-forever", page=2))
    with pytest.raises(UnexpectedResponse, match="more than 1100 schedules"):
        listed(server, sort="id_asc")
    assert server.requests <= 1100 // 10 + 2
