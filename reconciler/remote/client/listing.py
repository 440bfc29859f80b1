"""Reading every data schedule: one walk after `after` cursors, or two at once, from both ends.

Why two: at 20 ms a request, 100 pages read one after another take 2 s. An ascending walk (the
default sort, id_asc) and a descending one (`sort=id_desc`), each following its own `after` cursors,
meet in the middle in about half that. Cursors, never offsets (`page=`): a cursor names a position
between ids, so a schedule deleted during the walk cannot shift another past a page boundary and
hide it, as an offset would.

Why it is exact: ids are integers, and a page of a cursor walk holds the first `limit` ids past its
cursor that existed when it was read. So a schedule that exists throughout the listing is in the
ascending walk's pages if its id is at most that walk's highest, and in the descending walk's if it
is at least that walk's lowest. Once highest + 1 >= lowest, every id is one or the other (or the
descending walk reached its end, which covers everything below it): the result is the ascending
walk's schedules, then the descending walk's above the ascending walk's highest. That is ascending
id order, each schedule once, as one walk gives. A schedule created or deleted meanwhile may or may
not be in it, as with one walk. When the ascending walk reaches its end first, it alone is the result.

Why the walks are checked: the meeting is concluded only from pages known to be in order. A server
that ignores `sort` answers the descending walk with ascending pages, whose "lowest id" is the very
first schedule: trusted, it would end the listing after one page. So every id of a walk must be an
integer strictly past the one before it, across pages; a page that claims more pages must hold at
least two ids (one id shows no order); the descending walk's first id must be above the ascending
walk's first page (which said there was more); and when every page gave the same `total_count`
(the spec's "records matching the query"), the merged listing must hold exactly that many, which
catches a descending walk that is in order but not from the top. A descending walk that fails any
of this, or whose request is refused (400 or 422), is dropped, and the ascending walk goes on alone.
An ascending walk that fails it goes on alone too, as a plain walk: the server's order, whatever it
is, as today. Either fallback costs nothing in exactness, only the time the second walk would save.

Two walks only when the caller left `sort` alone (an explicit sort is the caller's order) and a page
can hold two schedules. The first page is read alone: when it is the last one, the listing costs
the one request it always did, and an error (a rejected key, a bad filter) is raised as it always was.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from reconciler.remote.client.errors import Cancelled, InvalidParameters, RecordInvalid, UnexpectedResponse
from reconciler.remote.client.redact import REDACTED

PATH = "/data_schedules"
ListParams = dict[str, str | int | Sequence[str]]


@dataclass(frozen=True)
class Page:
    """One answer of the list endpoint: its schedules, the whole object (for its cursors), and whether
    the key was taken out of it."""

    items: list[Any]
    data: Mapping[str, Any]
    redacted: bool


# reads one page; the event, once set, stops it (raising Cancelled) before it sends or while it waits
FetchPage = Callable[[ListParams, threading.Event | None], Page]


def next_cursor(data: Mapping[str, Any], seen: set[str], redacted: bool) -> str | None:
    """The `after` of the next page (None on the last), remembered in `seen`. `redacted`: the key was
    taken out of this page, so a cursor showing *** held it and cannot be followed."""
    cursors = data.get("cursors")
    nxt = cursors.get("next") if isinstance(cursors, dict) else None
    if nxt is None or nxt == "":  # the spec ends with null; one client also saw ""
        return None
    cursor = str(nxt)
    if redacted and REDACTED in cursor:
        raise UnexpectedResponse(
            "GET /data_schedules returned a next-page cursor that holds the API key; stopping rather "
            "than sending it back in a URL (check what answers at the base URL)",
            status=200,
            method="GET",
            path=PATH,
        )
    if cursor in seen:  # a server bug must not turn into an endless loop
        raise UnexpectedResponse(
            f"GET /data_schedules returned cursor {cursor!r} twice; stopping to avoid a loop",
            status=200,
            method="GET",
            path=PATH,
        )
    seen.add(cursor)
    return cursor


class _Walk:
    """One walk's requests and how far it got: `edge` is the last id it took (its highest, ascending;
    its lowest, descending)."""

    def __init__(self, params: ListParams, *, descending: bool) -> None:
        self.params: ListParams = {**params, "sort": "id_desc"} if descending else dict(params)
        self.descending = descending
        self.seen: set[str] = set()
        self.edge: int | None = None
        self.taken: list[dict[str, Any]] = []  # the descending walk's schedules, in the order read
        self.ended = False  # its last page was read

    def continues(self, items: list[Any]) -> bool:
        """Whether `items` carry on this walk's order: objects with integer ids, each strictly past the
        one before (the last page's last included)."""
        last = self.edge
        for item in items:
            ident = item.get("id") if isinstance(item, dict) else None
            if type(ident) is not int:
                return False
            if last is not None and (ident >= last if self.descending else ident <= last):
                return False
            last = ident
        return True

    def follow(self, page: Page) -> str | None:
        """The cursor of the page after `page` (None: it was the last), checked; the next request asks for it."""
        cursor = next_cursor(page.data, self.seen, page.redacted)
        if cursor is not None:
            self.params["after"] = cursor
        return cursor


def _can_show_order(params: Mapping[str, Any]) -> bool:
    try:
        return int(str(params.get("limit", 20))) >= 2
    except ValueError:
        return False  # the server will say what is wrong with it


def list_schedules(fetch: FetchPage, params: ListParams) -> Iterator[dict[str, Any]]:
    """Every schedule `params` selects: the ascending walk's as they come, then the rest from the
    descending walk, when two walks can be used; else the pages of one walk, as they come."""
    ascending = _Walk(params, descending=False)
    if "sort" in params or not _can_show_order(params):
        yield from _plain(fetch, ascending)
        return
    page = fetch(ascending.params, None)
    in_order = ascending.continues(page.items) and len(page.items) >= 2
    yield from page.items
    if ascending.follow(page) is None:
        return
    if not in_order:
        yield from _plain(fetch, ascending)
        return
    ascending.edge = page.items[-1]["id"]
    yield from _TwoWalks(fetch, ascending, _Walk(params, descending=True), page).rest()


def _plain(fetch: FetchPage, walk: _Walk) -> Iterator[dict[str, Any]]:
    """One walk to its end, its pages as they come: what the listing always was."""
    while True:
        page = fetch(walk.params, None)
        yield from page.items
        if walk.follow(page) is None:
            return


class _TwoWalks:
    """The ascending walk in the caller's thread, the descending one in its own, until they meet.

    What each walk decides about the other goes through `_lock`. Each walk's requests are stopped by
    its own event (set when the other walk makes it unnecessary, or fails), which the client also sets
    on `cancel()`: a walk waiting out a Retry-After wakes at once."""

    def __init__(self, fetch: FetchPage, ascending: _Walk, descending: _Walk, first: Page) -> None:
        self._fetch = fetch
        self._asc = ascending
        self._desc = descending
        assert ascending.edge is not None  # its first page, `first`, was read before
        self._floor: int = ascending.edge
        self._asc_count = len(first.items)  # the ascending walk's schedules so far, all distinct
        self._totals: set[int] | None = set()  # each page's total_count; None: some page had none
        self._lock = threading.Lock()
        self._note_total(first)
        self._asc_stop = threading.Event()
        self._desc_stop = threading.Event()
        self._together = True  # False: the descending walk was dropped, the ascending goes on alone
        self._met = False  # the walks cover every id between them
        self._done = False  # the ascending walk reached its end: it alone is the result
        self._desc_error: BaseException | None = None  # the descending walk failed before either of those

    def rest(self) -> Iterator[dict[str, Any]]:
        thread = threading.Thread(target=self._descend, name="holistics-list-descending", daemon=True)
        thread.start()
        try:
            yield from self._ascend()
        finally:
            # on every way out (an error, the consumer closing the generator), the other walk ends too
            self._desc_stop.set()
            thread.join()
        if self._desc_error is not None:
            raise self._desc_error
        if self._met:
            yield from reversed(self._desc_part())

    def _ascend(self) -> Iterator[dict[str, Any]]:
        while True:
            page = self._next_ascending_page()
            finished = None if page is None else self._take_ascending(page)
            if page is None or finished is None:
                return  # stopped by the descending walk, or decided while this page was on its way
            if finished:
                self._desc_stop.set()  # before yielding: the consumer may take its time
            yield from page.items
            if finished:
                return

    def _next_ascending_page(self) -> Page | None:
        """The ascending walk's next page; None when the descending walk stopped it (met, or failed:
        raised by `rest`)."""
        try:
            return self._fetch(self._asc.params, self._asc_stop)
        except Cancelled:
            if self._met or self._desc_error is not None:
                return None
            raise

    def _take_ascending(self, page: Page) -> bool | None:
        """What `page` of the ascending walk decides: whether the listing is finished with it, or None
        when it was decided while the page was on its way (it is not needed)."""
        walk = self._asc
        in_order = walk.continues(page.items)
        with self._lock:
            if self._met or self._desc_error is not None:
                return None
            if self._together and not in_order:
                self._drop_descending()  # not sorted by id: the plain walk, as the server orders it
            cursor = walk.follow(page)
            if self._together and cursor is not None and len(page.items) < 2:
                self._drop_descending()
            if self._together:
                self._note_total(page)
                self._asc_count += len(page.items)
                if page.items:
                    walk.edge = page.items[-1]["id"]
            if cursor is None:
                self._done = True
            elif self._together:
                self._conclude()
            return self._done or self._met

    def _descend(self) -> None:
        try:
            while self._descend_one_page():
                pass
        except BaseException as exc:  # handed to the caller's thread, which raises it
            with self._lock:
                if self._together and not (self._met or self._done or self._desc_stop.is_set()):
                    self._desc_error = exc
                    self._asc_stop.set()

    def _descend_one_page(self) -> bool:
        """Reads and takes the descending walk's next page; whether the walk goes on."""
        walk = self._desc
        try:
            page = self._fetch(walk.params, self._desc_stop)
        except (InvalidParameters, RecordInvalid):
            with self._lock:
                self._drop_descending()  # sort=id_desc is not supported here
            return False
        in_order = walk.continues(page.items) and (walk.edge is not None or self._starts_above(page))
        with self._lock:
            if not self._together or self._met or self._done:
                return False
            cursor = walk.follow(page) if in_order else None
            if not in_order or (cursor is not None and len(page.items) < 2):
                self._drop_descending()
                return False
            self._note_total(page)
            walk.taken.extend(page.items)
            if page.items:
                walk.edge = page.items[-1]["id"]
            walk.ended = cursor is None
            if self._conclude():
                self._asc_stop.set()
            return self._together and not self._met

    def _starts_above(self, page: Page) -> bool:
        """Whether the descending walk's first page starts above the ascending walk's first page, as it
        must when that one said there is more (a server ignoring the sort answers with the very first
        schedules; one sorting a page after cutting it, with those schedules reversed)."""
        return bool(page.items) and page.items[0]["id"] > self._floor

    def _note_total(self, page: Page) -> None:
        total = page.data.get("total_count")
        if self._totals is not None and type(total) is int:
            self._totals.add(total)
        else:
            self._totals = None

    def _desc_part(self) -> list[dict[str, Any]]:
        """The descending walk's schedules above the ascending walk's (highest first)."""
        top = self._asc.edge
        assert top is not None
        return [s for s in self._desc.taken if s["id"] > top]

    def _conclude(self) -> bool:
        """Whether the walks now cover every id between them (or the descending one reached its end,
        which covers everything below it); then they met. Called under the lock.

        When every page said the same total_count, the merged listing must hold exactly that many:
        if it does not, the descending walk was not what it seemed (not from the top, say) and is
        dropped. Differing totals mean schedules came or went meanwhile, which the walks allow for."""
        low, high = self._desc.edge, self._asc.edge
        if low is None or high is None or not (self._desc.ended or high + 1 >= low):
            return False
        if self._totals is not None and len(self._totals) == 1:
            (total,) = self._totals
            if self._asc_count + len(self._desc_part()) != total:
                self._drop_descending()
                return False
        self._met = True
        return True

    def _drop_descending(self) -> None:
        """The ascending walk goes on alone. Called under the lock."""
        self._together = False
        self._desc_stop.set()
