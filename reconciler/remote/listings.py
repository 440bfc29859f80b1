"""The workspace read in the background while the plan is made: every kind's listing (`Reads`), their
pages handed over as they come (`Arrivals`), the catalog (`CatalogRead`), and the whole read started at
once on one client (`Listings`), as soon as a command has one (`usecases.plan_start`).

Only read-only requests, all of them cancelled when the command fails before it wants them (invalid
YAML, an invalid config): no write is ever sent for input that is not valid.
"""

from __future__ import annotations

import contextlib
import functools
import queue
import sys
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

from reconciler.kinds import Kind, SourceKey
from reconciler.kinds.entries import DesiredEntry
from reconciler.remote.catalog import Catalog, read_catalog
from reconciler.remote.client import Cancelled, HolisticsClient, NamesUnavailable
from reconciler.remote.reads import RemoteSchedules, Source, add_unlisted, checked, read_source


class CatalogRead:
    """The catalog, read in the background from the moment the plan starts (it overlaps the
    listings and the parsing). Its result: the catalog, or None when the server has none to give."""

    def __init__(self, client: HolisticsClient) -> None:
        self.client = client
        self.future: Future[Catalog | None] = Future()
        self.unavailable: str | None = None  # why, when the server has no list_metadata for this key
        self._started = False

    def start(self) -> CatalogRead:
        """Send the request (a daemon thread: a command that failed meanwhile does not wait for it)."""
        if not self._started:
            self._started = True
            threading.Thread(target=self._read, name="catalog", daemon=True).start()
        return self

    def _read(self) -> None:
        try:
            catalog: Catalog | None = read_catalog(self.client)
        except NamesUnavailable as exc:
            self.unavailable = str(exc)
            catalog = None
        except BaseException as exc:  # raised to whoever asks for the catalog
            self.future.set_exception(exc)
            return
        self.future.set_result(catalog)

    def result(self) -> Catalog | None:
        return self.start().future.result()

    def settled_without(self) -> bool:
        """Whether the catalog is known to be unavailable (waiting for the answer): the caller then
        reads titles one by one, as before. A failed read counts as available: it fails the plan."""
        try:
            return self.result() is None
        except Exception:  # not an interrupt: Ctrl-C while waiting for the catalog ends the command
            return False


SOURCE_WORKERS = 4  # a workspace's schedules come from a handful of dashboards and reports

Ahead = Callable[[Mapping[str, Any]], object]


class Arrivals:
    """The pages of every kind's listing, in the order they come, each item handed to its kind's `ahead`
    once that is known (`Reads.watch`): while one kind's listing is on its way, the thread waiting for
    it works on what another's brought (issue 22: a mixed workspace's 2,000 alerts were compared only
    after the last page of its 10,000 schedules). One consumer: the thread that waits for the listings.
    Pages, not items, cross the queue: the walks only hand over what they read, and go on reading."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[tuple[object, Sequence[Any] | None]] = queue.SimpleQueue()
        self._ahead: dict[object, Ahead] = {}
        self._unseen: dict[object, list[Sequence[Any]]] = {}  # what came before its `ahead` was known
        self._ended: set[object] = set()

    def put(self, listing: object, page: Sequence[Any] | None) -> None:
        """A page of `listing`'s items, or None: it has no more."""
        self._queue.put((listing, page))

    def watch(self, listing: object, ahead: Ahead) -> None:
        self._ahead[listing] = ahead
        for page in self._unseen.pop(listing, []):
            _see(ahead, page)

    def watched(self, listing: object) -> bool:
        return listing in self._ahead

    def until_ended(self, listing: object) -> None:
        """Hands out what comes, whichever listing's, until `listing` has no more."""
        while listing not in self._ended:
            source, page = self._queue.get()
            if page is None:
                self._ended.add(source)
            elif source in self._ahead:
                _see(self._ahead[source], page)
            else:
                self._unseen.setdefault(source, []).append(page)


def _see(ahead: Ahead, page: Sequence[Any]) -> None:
    for item in page:
        with contextlib.suppress(Exception):  # done again later, and failing there as it always did
            ahead(item)


@dataclass(frozen=True)
class _Viewed:
    """A listed item seen through the spec, and the paths the spec left out of it."""

    view: dict[str, Any]
    extras: set[str]


class Reads:
    """The workspace read in the background: the listing at once, and each dashboard or report as
    soon as it is likely to be needed (a listed schedule in scope names it) or known to be (`sources`).

    Every source is requested at most once. A failure is kept with the read it belongs to and raised
    only when that result is asked for, so a source that only a guess wanted can fail no plan. Leaving
    the `with` block on an exception (invalid YAML, Ctrl-C) cancels what has not been sent and does not
    wait for what is in flight: the command can say its error at once.
    """

    def __init__(
        self,
        client: HolisticsClient,
        kind: Kind,
        in_scope: Callable[[Mapping[str, Any]], bool] | None = None,
        *,
        with_sources: bool = True,
        titles_by_get: Callable[[], bool] | None = None,
        arrivals: Arrivals | None = None,
    ) -> None:
        self._client, self._kind, self._with_sources = client, kind, with_sources
        # which listed items the plan owns: only their sources are read ahead; it may come later than the
        # listing's start (`scope_to`), which then waits for it before it reads any source
        self._in_scope: Callable[[Mapping[str, Any]], bool] = lambda _: False
        self._scoped = threading.Event()
        if in_scope is not None:
            self.scope_to(in_scope)
        # whether the listed schedules' sources are read as they come (for titles): not when a catalog
        # has every dashboard's title (asked once, on the first source: it may wait for the catalog)
        self._titles_by_get = titles_by_get or (lambda: True)
        self._sources: dict[SourceKey, Future[Source]] = {}
        self._lock = threading.Lock()
        # daemons (not a ThreadPoolExecutor, whose workers the interpreter joins at exit): a read stuck
        # on a slow server must not hold up a command that has already failed
        self._queue: queue.SimpleQueue[tuple[SourceKey, Future[Source]] | None] = queue.SimpleQueue()
        self._workers: list[threading.Thread] = []
        self._closed = False
        self._listing: Future[list[Any]] = Future()  # the items as listed
        # each page as either walk reads it, then None, for the thread that sees them through the spec
        # (`_view_pages`); it hands each page's views on, then None, to the queue of every kind's listing
        # of the plan, for work on them while the rest is on its way (`remote`)
        self._pages: queue.SimpleQueue[list[Any] | None] = queue.SimpleQueue()
        self._arrivals = arrivals or Arrivals()
        self._drained = False
        # The listing as `_list` holds it, in its order: each item as read, replaced by its view once
        # `_view_pages` has it, so that the raw item is not kept beside its view to the end (memory: 10,000
        # listed schedules are about 18 MB as read). Between the two threads, under `_placing`: the
        # position of each item not seen yet, and the views of items not placed yet (each with the item,
        # so that its id() cannot be taken by another object meanwhile).
        self._placed: list[Any] = []
        self._placing = threading.Lock()
        self._waiting: dict[int, int] = {}
        self._views: dict[int, tuple[Any, _Viewed]] = {}
        self._all_viewed = threading.Event()
        # While the main thread parses YAML, a reader whose answer has arrived waits for the GIL up to
        # the switch interval (5 ms) before it can send the next request: 100 pages would lose 0.5 s.
        self._switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(min(self._switch_interval, 0.001))
        client.hold_events()  # until the YAML is valid: its problems come first, as without the overlap
        # daemons: a listing still waiting on the network must not hold up the exit of a failed command
        threading.Thread(target=self._list, name="listing", daemon=True).start()
        threading.Thread(target=self._view_pages, name="listing-views", daemon=True).start()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._closed = True
        self._scoped.set()  # a listing waiting for a scope that will not come reads no source ahead
        sys.setswitchinterval(self._switch_interval)  # process-wide: only lowered while the YAML is read
        if exc is not None:
            self._client.cancel()
        self._client.release_events(show=exc is None)
        for _ in self._workers:
            self._queue.put(None)

    def _read_sources(self) -> None:
        while (task := self._queue.get()) is not None:
            key, future = task
            if self._closed or not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(read_source(self._client, key))
            except BaseException as exc:  # kept for whoever asks for this source
                future.set_exception(exc)

    def _list(self) -> None:
        """The listing's thread: the items as the listing holds them, in its order. Neither it nor the
        descending walk's thread sees them through the spec (`_view_pages` does): each walk sends its
        next request as soon as a page is in, instead of after a page's worth of work (issue 22)."""
        try:
            asked: set[SourceKey] = set()  # a workspace has a handful of sources: ask once each
            guess: bool | None = None if self._with_sources else False
            for item in self._client.list(self._kind, early=self._read):
                self._place(item)
                key = self._source_key(item) if guess is not False else None
                if key is not None and guess is None:
                    guess = self._titles_by_get()
                if guess and key is not None and key not in asked and self._within_scope(item):
                    asked.add(key)
                    self.prefetch([key])
        except BaseException as exc:
            self._listing.set_exception(exc)
        else:
            self._listing.set_result(self._placed)
        finally:
            self._pages.put(None)

    def scope_to(self, in_scope: Callable[[Mapping[str, Any]], bool]) -> None:
        """The plan's scope, once its config is read: the items whose sources may be read ahead."""
        self._in_scope = in_scope
        self._scoped.set()

    def _within_scope(self, item: Mapping[str, Any]) -> bool:
        self._scoped.wait()  # set when the config is read; a failed plan leaves this daemon waiting
        return self._in_scope(item)

    def _source_key(self, item: Any) -> SourceKey | None:
        return self._kind.source_key(item) if isinstance(item, dict) else None

    def _place(self, item: Any) -> None:
        """The listing's next item (`_list`): its view if it was seen already, else itself, for now."""
        with self._placing:
            known = self._views.pop(id(item), None)
            if known is not None and known[0] is item:
                self._placed.append(known[1])
            else:
                self._waiting[id(item)] = len(self._placed)
                self._placed.append(item)

    def _viewed(self, item: Any, viewed: _Viewed) -> None:
        """`item`'s view (`_view_pages`): in its place if the listing holds it already, else kept for it."""
        with self._placing:
            at = self._waiting.pop(id(item), None)
            if at is not None and self._placed[at] is item:
                self._placed[at] = viewed
            else:
                self._views[id(item)] = (item, viewed)

    def _read(self, items: list[Any]) -> None:
        """A page of either walk as it is read (its thread): handed over as it is."""
        self._pages.put(items)

    def _view_pages(self) -> None:
        """Each page's items checked and seen through the spec, as pages come, in a thread of its own: it
        runs whenever the others wait (on the network, on a worker parsing YAML), neither delaying a
        walk's next request nor waiting for the thread that reads the YAML. An item that fails is left
        to fail where the listing is built (`remote`), in the listing's order."""
        while (page := self._pages.get()) is not None:
            views = []
            for item in page:
                extras: set[str] = set()
                with contextlib.suppress(Exception):
                    view = self._kind.view(checked(item, "the listing", self._kind), extras)
                    self._viewed(item, _Viewed(view, extras))
                    views.append(view)
            self._arrivals.put(self, views)
        self._all_viewed.set()
        self._arrivals.put(self, None)

    def prefetch(self, keys: Iterable[SourceKey]) -> None:
        """Start reading these sources (each at most once) without waiting for them."""
        with self._lock:
            for key in keys:
                if key in self._sources:
                    continue
                future: Future[Source] = Future()
                self._sources[key] = future
                self._queue.put((key, future))
                if len(self._workers) < min(SOURCE_WORKERS, len(self._sources)):
                    worker = threading.Thread(target=self._read_sources, name="sources", daemon=True)
                    self._workers.append(worker)
                    worker.start()

    def watch(self, ahead: Ahead) -> None:
        """`ahead(item)`: called in the thread that waits for a listing of the plan (`remote`), with each
        item of this one (as `RemoteSchedules` holds it) as it comes, while the rest is on its way: work
        that would otherwise wait for the last page (`core.ahead`). It must change nothing; what it
        fails at is left to be done later. What it returns says whether the plan is likely to show the
        item: its source is then read now (for its title), not after the last page."""
        self._arrivals.watch(self, lambda view: self._shown(view, ahead))

    def _shown(self, view: Mapping[str, Any], ahead: Ahead) -> None:
        if not ahead(view) or not self._with_sources:
            return
        key = self._kind.source_key(view)
        if key is None or key in self._sources:
            return
        # a report's title is always read; a dashboard's comes from the catalog, or without one is read
        # as the listing's own thread meets it (`_list`)
        if key[0] != "Dashboard" and self._scoped.is_set() and self._in_scope(view):
            self.prefetch([key])

    def remote(self, desired: Sequence[DesiredEntry]) -> RemoteSchedules:
        """The listing (waiting for it), plus the ids the YAML names that it left out (`add_unlisted`).
        Asked for once the YAML is valid: what the reads had to say (-v) is said from here on. While
        it waits, what comes is handed to the `ahead` watching it (`watch`)."""
        self._client.release_events(show=True)
        if self._arrivals.watched(self) and not self._drained:
            self._drained = True
            self._arrivals.until_ended(self)
        placed = self._listing.result()
        self._all_viewed.wait()  # comes right after the listing's end
        remote = RemoteSchedules(self._kind)
        for entry in placed:
            if type(entry) is _Viewed:
                remote.add_view(entry.view, entry.extras)  # seen as it came
            else:
                remote.add(entry, "the listing")  # not seen through the spec: raises why, in order
        self._views.clear()  # the pages past where the two walks met
        self._waiting.clear()
        return add_unlisted(self._client, desired, remote)

    def sources(self, keys: Iterable[SourceKey]) -> dict[SourceKey, Source]:
        """Exactly these sources, as `read_sources` reads them, each request sent at most once."""
        wanted = sorted(set(keys))
        self.prefetch(wanted)
        return {key: self._sources[key].result() for key in wanted}


class Listings:
    """The plan's whole read of the workspace: every kind's listing (`Reads`, their items in one queue,
    `Arrivals`) and the catalog (`CatalogRead`), all started at once on one client. A `with` block: on
    an exception, what has not been sent is cancelled.

    It needs nothing of the YAML or of the config's models, so a command can start it as soon as it has
    a client, before the rest of the plan's code loads (issue 22: the listing's first request went out
    0.3 s into the process, behind imports); the plan gives it its scope once the config is read."""

    def __init__(self, client: HolisticsClient, kinds: Sequence[Kind], *, with_sources: bool = True) -> None:
        self.client = client
        self.names = CatalogRead(client)
        arrivals = Arrivals()  # every kind's items, in one queue
        self._stack = contextlib.ExitStack()
        self.reads = {
            kind.yaml_key: self._stack.enter_context(
                Reads(
                    client, kind, with_sources=with_sources, titles_by_get=self.names.settled_without, arrivals=arrivals
                )
            )
            for kind in kinds
        }
        self.names.start()  # one request, beside the listings (once they hold the client's events)

    def scope_to(self, contains: Callable[..., bool]) -> None:
        """The items the plan owns, `contains(item, kind=YAML key)`: only their sources are read ahead."""
        for key, reads in self.reads.items():
            reads.scope_to(functools.partial(contains, kind=key))

    def abandon(self) -> None:
        """Cancels every read and closes the client: the plan reads the workspace through another."""
        stop = Cancelled(method="GET", path="*")
        self._stack.__exit__(Cancelled, stop, None)
        self.client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stack.__exit__(exc_type, exc, tb)  # a second exit (the plan's, then its command's) does nothing
