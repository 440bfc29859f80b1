"""Reading every data schedule: one walk after `after` cursors, or two at once, from both ends.

Why two: at 20 ms a request, 100 pages read one after another take 2 s. An ascending walk (the
default sort, id_asc) and a descending one (`sort=id_desc`), each following its own `after` cursors,
meet in the middle in about half that. Cursors, never offsets (`page=`): a cursor names a position
between ids, so a schedule deleted during the walk cannot shift another past a page boundary and
hide it, as an offset would.

Why it is exact: ids are integers, and a page of a cursor walk holds the first `limit` ids past its
cursor that existed when it was read. So a schedule that exists throughout the listing is in the
ascending walk's pages if its id is at most that walk's highest, and in the descending walk's if it
is at least that walk's lowest, provided the descending walk started at the top. Once highest + 1 >=
lowest, every id is one or the other (or the descending walk reached its end, which covers everything
below it): the result is the ascending walk's schedules, then the descending walk's above the
ascending walk's highest. That is ascending id order, each schedule once, as one walk gives.

Why the walks are checked: the meeting is concluded only from pages known to be in order and from a
descending walk known to start at the top. A server that ignores `sort` answers the descending walk
with ascending pages, whose "lowest id" is the very first schedule: trusted, it would end the listing
after one page. So every id of a walk must be an integer strictly past the one before it, across
pages; a page that claims more pages must hold at least two ids (one id shows no order); the
descending walk's first id must be above every id the ascending walk has read. Nothing but the
count shows that the descending walk started at the top, so every page of both walks must give the
same `total_count` (the spec's "records matching the query") and the merged listing must hold
exactly that many. Totals that differ (schedules came or went meanwhile) prove nothing, so they end
the descending walk too. A descending walk that fails any of this, or whose request is refused (400
or 422), is dropped, and the ascending walk goes on alone, as one walk in the server's order: either
fallback costs nothing in exactness, only the time the second walk would save.

Why every walk ends: a server may lead its cursors anywhere, with fresh tokens each time. A walk
(either one, or the one walk) raises `UnexpectedResponse` as soon as it meets a schedule it already
read, or a cursor it already followed, or `MAX_EMPTY_PAGES` pages in a row that promise more but hold
nothing, or more schedules than the workspace can hold: twice the largest `total_count` a page gave
plus a margin for edits meanwhile, and `MAX_SCHEDULES` whatever a page says (data alerts' listings
give no count). So a walk reads at most about that many schedules, and keeps only their ids beside
them. One walk is checked as the two are: when every page gave the same `total_count`, a listing
holding fewer schedules skipped some, which is an error (Holistics gives a new schedule an id above
every other, so edits meanwhile only add to a walk, never take from it below that count).

Two walks only when the caller left `sort` alone (an explicit sort is the caller's order) and a page
can hold two schedules. The first page is read alone: when it is the last one, the listing costs
the one request it always did, and an error (a rejected key, a bad filter) is raised as it always was.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from reconciler.remote.client.errors import Cancelled, InvalidParameters, RecordInvalid, UnexpectedResponse
from reconciler.remote.client.redact import REDACTED

PATH = "/data_schedules"
ListParams = dict[str, str | int | Sequence[str]]

MAX_SCHEDULES = 100_000  # far more than a workspace holds; what a listing without a count may read
MAX_EMPTY_PAGES = 3  # pages in a row that promise more but hold nothing
EDIT_MARGIN = 1_000  # schedules created and deleted while a listing runs, beyond twice its count


@dataclass(frozen=True)
class Page:
    """One answer of the list endpoint: its schedules, the whole object (for its cursors), and whether
    the key was taken out of it."""

    items: list[Any]
    data: Mapping[str, Any]
    redacted: bool


# reads one page; the event, once set, stops it (raising Cancelled) before it sends or while it waits
FetchPage = Callable[[ListParams, threading.Event | None], Page]
# shown each page of either walk as it is taken, in that walk's thread (see `list_schedules`)
Early = Callable[[list[Any]], None]


def _preview(early: Early | None, items: list[Any]) -> None:
    if early is not None:
        with contextlib.suppress(Exception):  # a preview: the items are yielded (and checked) later
            early(items)


def _broken(message: str) -> UnexpectedResponse:
    return UnexpectedResponse(f"GET {PATH} {message}", status=200, method="GET", path=PATH)


def next_cursor(data: Mapping[str, Any], seen: set[str], redacted: bool) -> str | None:
    """The `after` of the next page (None on the last), remembered in `seen`. `redacted`: the key was
    taken out of this page, so a cursor showing *** held it and cannot be followed."""
    cursors = data.get("cursors")
    nxt = cursors.get("next") if isinstance(cursors, dict) else None
    if nxt is None or nxt == "":  # the spec ends with null; one client also saw ""
        return None
    cursor = str(nxt)
    if redacted and REDACTED in cursor:
        raise _broken(
            "returned a next-page cursor that holds the API key; stopping rather than sending it back "
            "in a URL (check what answers at the base URL)"
        )
    if cursor in seen:  # a server bug must not turn into an endless loop
        raise _broken(f"returned cursor {cursor!r} twice; stopping to avoid a loop")
    seen.add(cursor)
    return cursor


def _id_of(item: Any) -> Any:
    return item.get("id") if isinstance(item, dict) else None


def _total_of(page: Page) -> int | None:
    total = page.data.get("total_count")
    return total if type(total) is int else None


class _Walk:
    """One walk's requests and how far it got: `edge` is the last id it took (its highest, ascending;
    its lowest, descending). Every page it takes is counted, and the ids it read kept (see `take`)."""

    def __init__(self, params: ListParams, *, descending: bool) -> None:
        self.params: ListParams = {**params, "sort": "id_desc"} if descending else dict(params)
        self.descending = descending
        self.seen: set[str] = set()
        self.ids: set[Any] = set()
        self.count = 0  # schedules taken, all distinct
        self.totals: set[int | None] = set()  # the total_count of each page taken (None: none given)
        self.empty_run = 0
        self.edge: int | None = None
        self.taken: list[dict[str, Any]] = []  # the descending walk's schedules, in the order read
        self.ended = False  # its last page was read

    def continues(self, items: list[Any]) -> bool:
        """Whether `items` carry on this walk's order: objects with integer ids, each strictly past the
        one before (the last page's last included)."""
        last = self.edge
        for item in items:
            ident = _id_of(item)
            if type(ident) is not int:
                return False
            if last is not None and (ident >= last if self.descending else ident <= last):
                return False
            last = ident
        return True

    def take(self, page: Page) -> str | None:
        """Counts `page` in, and returns the cursor of the page after it (None: it was the last), which
        the next request asks for. Raises when the walk shows it would not end (see the module)."""
        self._count(page)
        cursor = next_cursor(page.data, self.seen, page.redacted)
        self.empty_run = self.empty_run + 1 if cursor is not None and not page.items else 0
        if self.empty_run > MAX_EMPTY_PAGES:
            raise _broken(f"returned {self.empty_run} empty pages in a row that each promised more; stopping")
        if cursor is not None:
            self.params["after"] = cursor
        if page.items and type(last := _id_of(page.items[-1])) is int:
            self.edge = last
        return cursor

    def _count(self, page: Page) -> None:
        for item in page.items:
            ident = _id_of(item)
            if type(ident) in (int, str):  # not a bool: True would be taken for schedule 1
                if ident in self.ids:
                    raise _broken(f"returned schedule {ident!r} twice; stopping (the pages loop or overlap)")
                self.ids.add(ident)
        self.count += len(page.items)
        self.totals.add(_total_of(page))
        counted = [t for t in self.totals if t is not None]
        ceiling = min(MAX_SCHEDULES, 2 * max(counted) + EDIT_MARGIN) if counted else MAX_SCHEDULES
        if self.count > ceiling:
            raise _broken(f"returned more than {ceiling} schedules; stopping (more than the workspace can hold)")

    def check_complete(self) -> None:
        """At the end of one walk: when every page gave the same count, no fewer schedules than that."""
        if len(self.totals) == 1 and (total := next(iter(self.totals))) is not None and self.count < total:
            raise _broken(
                f"pages hold {self.count} schedules but every page counted {total}; the server skipped "
                "some (run again; if this persists, its paging is broken)"
            )


def _can_show_order(params: Mapping[str, Any]) -> bool:
    try:
        return int(str(params.get("limit", 20))) >= 2
    except ValueError:
        return False  # the server will say what is wrong with it


def list_schedules(
    fetch: FetchPage, params: ListParams, *, sorts: bool = True, early: Early | None = None
) -> Iterator[dict[str, Any]]:
    """Every item `params` selects: the ascending walk's as they come, then the rest from the
    descending walk, when two walks can be used; else the pages of one walk, as they come.

    `sorts=False`: the listing takes no `sort` (data alerts: no sort, no page, no total_count), so
    it is one forward walk that never sends `sort` and needs no count.

    `early(items)`: each page either walk takes, as it is taken (in its thread, outside any lock), for
    work on its items elsewhere while the walk goes on (the descending walk's are yielded only at the
    end). Only a preview: the same objects are yielded later, or not at all (a page past the meeting
    point); what it raises is ignored."""
    ascending = _Walk(params, descending=False)
    if not sorts or "sort" in params or not _can_show_order(params):
        yield from _plain(fetch, ascending, early)
        return
    page = fetch(ascending.params, None)
    in_order = ascending.continues(page.items) and len(page.items) >= 2
    cursor = ascending.take(page)
    _preview(early, page.items)
    yield from page.items
    if cursor is None:
        ascending.check_complete()
        return
    if not in_order or _total_of(page) is None:
        yield from _plain(fetch, ascending, early)
        return
    yield from _TwoWalks(fetch, ascending, _Walk(params, descending=True), early).rest()


def _plain(fetch: FetchPage, walk: _Walk, early: Early | None = None) -> Iterator[dict[str, Any]]:
    """One walk to its end, its pages as they come: what the listing always was."""
    while True:
        page = fetch(walk.params, None)
        cursor = walk.take(page)
        _preview(early, page.items)
        yield from page.items
        if cursor is None:
            walk.check_complete()
            return


class _TwoWalks:
    """The ascending walk in the caller's thread, the descending one in its own, until they meet.

    What each walk decides about the other goes through `_lock`. Each walk's requests are stopped by
    its own event (set when the other walk makes it unnecessary, or fails), which the client also sets
    on `cancel()`: a walk waiting out a Retry-After wakes at once."""

    def __init__(self, fetch: FetchPage, ascending: _Walk, descending: _Walk, early: Early | None = None) -> None:
        self._fetch = fetch
        self._early = early
        self._asc = ascending
        self._desc = descending
        self._lock = threading.Lock()
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
        else:
            self._asc.check_complete()

    def _ascend(self) -> Iterator[dict[str, Any]]:
        while True:
            page = self._next_ascending_page()
            finished = None if page is None else self._take_ascending(page)
            if page is None or finished is None:
                return  # stopped by the descending walk, or decided while this page was on its way
            if finished:
                self._desc_stop.set()  # before yielding: the consumer may take its time
            _preview(self._early, page.items)
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
            cursor = walk.take(page)
            if self._together and ((cursor is not None and len(page.items) < 2) or not self._totals_agree()):
                self._drop_descending()
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
        with self._lock:
            if not self._together or self._met or self._done:
                return False
            in_order = walk.continues(page.items) and (walk.edge is not None or self._starts_above(page))
            cursor = walk.take(page) if in_order else None
            if not in_order or (cursor is not None and len(page.items) < 2) or not self._totals_agree():
                self._drop_descending()
                return False
            walk.taken.extend(page.items)
            walk.ended = cursor is None
            if self._conclude():
                self._asc_stop.set()
            goes_on = self._together and not self._met
        _preview(self._early, page.items)
        return goes_on

    def _starts_above(self, page: Page) -> bool:
        """Whether the descending walk's first page starts above every id the ascending walk read, as
        it must when that one said there is more (a server ignoring the sort answers with the very
        first schedules; one sorting a page after cutting it, with those schedules reversed).
        Called under the lock."""
        top = self._asc.edge
        return bool(page.items) and top is not None and page.items[0]["id"] > top

    def _totals_agree(self) -> bool:
        """Whether every page of both walks gave one and the same total_count. Called under the lock."""
        totals = self._asc.totals | self._desc.totals
        return len(totals) == 1 and None not in totals

    def _desc_part(self) -> list[dict[str, Any]]:
        """The descending walk's schedules above the ascending walk's (highest first)."""
        top = self._asc.edge
        assert top is not None
        return [s for s in self._desc.taken if s["id"] > top]

    def _conclude(self) -> bool:
        """Whether the walks now cover every id between them (or the descending one reached its end,
        which covers everything below it); then they met. Called under the lock.

        Every page said the same total_count (else the descending walk was dropped): the merged
        listing must hold exactly that many, or the descending walk was not what it seemed (not from
        the top, say) and is dropped."""
        low, high = self._desc.edge, self._asc.edge
        if low is None or high is None or not (self._desc.ended or high + 1 >= low):
            return False
        (total,) = self._asc.totals
        if self._asc.count + len(self._desc_part()) != total:
            self._drop_descending()
            return False
        self._met = True
        return True

    def _drop_descending(self) -> None:
        """The ascending walk goes on alone. Called under the lock."""
        self._together = False
        self._desc_stop.set()
