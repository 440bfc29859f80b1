"""The remote side of a plan: every item of a kind the workspace has, read once through the list
endpoint, and seen only through the spec's model of one (`Kind.view`).

`Reads` starts these reads before the YAML has been read, so the network time overlaps the parsing:
only read-only requests, and all of them cancelled when the YAML turns out invalid.
"""

from __future__ import annotations

import contextlib
import queue
import sys
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

from reconciler.kinds import Kind, SourceKey
from reconciler.kinds.entries import DesiredEntry
from reconciler.problems import Problem, inert
from reconciler.remote.catalog import Catalog
from reconciler.remote.client import HolisticsClient, NotFound, PermissionDenied, UnexpectedResponse


@dataclass
class RemoteSchedules:
    """Items of `kind` as the spec documents them, and the fields the server sent beyond that."""

    kind: Kind
    schedules: list[dict[str, Any]] = field(default_factory=list)
    undocumented: set[str] = field(default_factory=set)  # dotted paths, e.g. "created_at", "dest.owner"

    def add(self, schedule: Any, how: str) -> None:
        extras: set[str] = set()
        self.add_view(self.kind.view(_checked(schedule, how, self.kind), extras), extras)

    def add_view(self, view: dict[str, Any], extras: set[str]) -> None:
        """An item already checked and seen through the spec (`add`), with the paths it left out."""
        self.schedules.append(view)
        self.undocumented.update(inert(path) for path in extras)  # the server's keys, shown by -v: display only


def _checked(schedule: Any, how: str, kind: Kind) -> dict[str, Any]:
    """A schedule the plan can use: an object with a positive integer id (anything else from the
    server would surface later as a crash, or as an entry matched to nothing)."""
    schedule_id = schedule.get("id") if isinstance(schedule, dict) else None
    valid_id = isinstance(schedule_id, int) and not isinstance(schedule_id, bool) and schedule_id > 0
    if not isinstance(schedule, dict) or not valid_id:
        raise UnexpectedResponse(
            f"{how} returned {'an' if kind.noun[:1] in 'aeiou' else 'a'} {kind.noun} without a valid id "
            f"({str(schedule_id)[:40]!r}); refusing to plan from it",
            status=200,
            method="GET",
            path=kind.path,
        )
    return schedule


def list_remote(client: HolisticsClient, kind: Kind, **filters: Any) -> RemoteSchedules:
    """Every item the listing returns (100 a page, no per-item GET), through the spec's view."""
    remote = RemoteSchedules(kind)
    for schedule in client.list(kind, **filters):
        remote.add(schedule, "the listing")
    return remote


def add_unlisted(client: HolisticsClient, desired: Sequence[DesiredEntry], remote: RemoteSchedules) -> RemoteSchedules:
    """The listing plus each id the YAML names that it left out (the default listing omits schedules
    made by embed users), read by id. An id the workspace does not have at all (deleted in the UI)
    stays missing: the plan creates that entry again, or adopts an identical schedule."""
    listed = {int(r["id"]) for r in remote.schedules}
    for entry in desired:
        if entry.id is None or entry.id in listed:
            continue
        try:
            remote.add(client.get(remote.kind, entry.id), f"GET {remote.kind.path}/{entry.id}")
        except NotFound:
            continue
    return remote


@dataclass(frozen=True)
class Source:
    """A dashboard or report that schedules deliver, as far as the workspace tells."""

    source_type: str
    source_id: int
    exists: bool
    title: str | None = None  # the workspace's text: shown through `views.plan_words.source_text` (inert)
    filter_ids: frozenset[str] | None = None  # dashboards only


def read_sources(client: HolisticsClient, keys: Iterable[SourceKey]) -> dict[SourceKey, Source]:
    """One request per distinct source (never per schedule)."""
    return {key: read_source(client, key) for key in sorted(set(keys))}


def read_source(client: HolisticsClient, key: SourceKey) -> Source:
    source_type, source_id = key
    try:
        if source_type == "Dashboard":
            data = client.get_dashboard(source_id)
            filters = frozenset(str(f.get("id")) for f in data.get("dynamic_filters") or [] if isinstance(f, dict))
            return Source(source_type, source_id, True, data.get("title"), filters)
        data = client.get_query_report(source_id)
        return Source(source_type, source_id, True, data.get("title"))
    except NotFound:
        return Source(source_type, source_id, False)
    except PermissionDenied:
        return Source(source_type, source_id, True)  # it exists; this key may not read it


def catalog_source(catalog: Catalog, key: SourceKey) -> Source:
    """A dashboard as the catalog knows it, without a request: whether it exists, and its title. Its
    filters are not checked here (the catalog knows only those with a uname, and names are checked
    as they are resolved): `validate --remote` reads them (`read_source`)."""
    source_type, source_id = key
    return Source(source_type, source_id, catalog.has(source_id), catalog.title(source_id))


SOURCE_WORKERS = 4  # a workspace's schedules come from a handful of dashboards and reports

Ahead = Callable[[Mapping[str, Any]], None]


class Arrivals:
    """The items of every kind's listing, in the order they come, each handed to its kind's `ahead`
    once that is known (`Reads.watch`): while one kind's listing is on its way, the thread waiting for
    it works on what another's brought (issue 22: a mixed workspace's 2,000 alerts were compared only
    after the last page of its 10,000 schedules). One consumer: the thread that waits for the listings."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[tuple[object, Mapping[str, Any] | None]] = queue.SimpleQueue()
        self._ahead: dict[object, Ahead] = {}
        self._unseen: dict[object, list[Mapping[str, Any]]] = {}  # what came before its `ahead` was known
        self._ended: set[object] = set()

    def put(self, listing: object, item: Mapping[str, Any] | None) -> None:
        """An item of `listing`, or None: it has no more."""
        self._queue.put((listing, item))

    def watch(self, listing: object, ahead: Ahead) -> None:
        self._ahead[listing] = ahead
        for item in self._unseen.pop(listing, []):
            _see(ahead, item)

    def watched(self, listing: object) -> bool:
        return listing in self._ahead

    def until_ended(self, listing: object) -> None:
        """Hands out what comes, whichever listing's, until `listing` has no more."""
        while listing not in self._ended:
            source, item = self._queue.get()
            if item is None:
                self._ended.add(source)
            elif source in self._ahead:
                _see(self._ahead[source], item)
            else:
                self._unseen.setdefault(source, []).append(item)


def _see(ahead: Ahead, item: Mapping[str, Any]) -> None:
    with contextlib.suppress(Exception):  # done again later, and failing there as it always did
        ahead(item)


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
        in_scope: Callable[[Mapping[str, Any]], bool],
        *,
        with_sources: bool = True,
        titles_by_get: Callable[[], bool] | None = None,
        arrivals: Arrivals | None = None,
    ) -> None:
        self._client, self._kind, self._in_scope, self._with_sources = client, kind, in_scope, with_sources
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
        self._listing: Future[RemoteSchedules] = Future()
        # each listed item as it comes, then None: for work on it while the rest is on its way (`remote`),
        # in the queue of every kind's listing of the plan
        self._arrivals = arrivals or Arrivals()
        self._drained = False
        # the descending walk's items, seen through the spec as their pages arrive (`_early`), by id()
        # of the item as read: the listing yields these very objects only after the last page
        self._views: dict[int, tuple[Any, dict[str, Any], set[str]]] = {}
        # While the main thread parses YAML, a reader whose answer has arrived waits for the GIL up to
        # the switch interval (5 ms) before it can send the next request: 100 pages would lose 0.5 s.
        self._switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(min(self._switch_interval, 0.001))
        client.hold_events()  # until the YAML is valid: its problems come first, as without the overlap
        # a daemon: a listing still waiting on the network must not hold up the exit of a failed command
        threading.Thread(target=self._list, name="listing", daemon=True).start()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._closed = True
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
        try:
            remote = RemoteSchedules(self._kind)
            asked: set[SourceKey] = set()  # a workspace has a handful of sources: ask once each
            guess: bool | None = None if self._with_sources else False
            for schedule in self._client.list(self._kind, early=self._early):
                known = self._views.pop(id(schedule), None)
                if known is not None and known[0] is schedule:
                    remote.add_view(known[1], known[2])  # handed over already (`_early`)
                else:
                    remote.add(schedule, "the listing")
                    self._arrivals.put(self, remote.schedules[-1])
                key = self._kind.source_key(schedule) if guess is not False else None
                if key is not None and guess is None:
                    guess = self._titles_by_get()
                if guess and key is not None and key not in asked and self._in_scope(schedule):
                    asked.add(key)
                    self.prefetch([key])
        except BaseException as exc:
            self._listing.set_exception(exc)
        else:
            self._listing.set_result(remote)
        finally:
            self._arrivals.put(self, None)

    def _early(self, items: list[Any]) -> None:
        """A page of the descending walk as it arrives (its thread): each item checked and seen through
        the spec now, kept for when the listing yields it, and handed over (`remote`'s `ahead`). An
        item that fails is left to fail where the listing yields it."""
        for item in items:
            extras: set[str] = set()
            try:
                view = self._kind.view(_checked(item, "the listing", self._kind), extras)
            except Exception:  # said by `add`, in the listing's order
                continue
            self._views[id(item)] = (item, view, extras)
            self._arrivals.put(self, view)

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
        fails at is left to be done later."""
        self._arrivals.watch(self, ahead)

    def remote(self, desired: Sequence[DesiredEntry]) -> RemoteSchedules:
        """The listing (waiting for it), plus the ids the YAML names that it left out (`add_unlisted`).
        Asked for once the YAML is valid: what the reads had to say (-v) is said from here on. While
        it waits, what comes is handed to the `ahead` watching it (`watch`)."""
        self._client.release_events(show=True)
        if self._arrivals.watched(self) and not self._drained:
            self._drained = True
            self._arrivals.until_ended(self)
        return add_unlisted(self._client, desired, self._listing.result())

    def sources(self, keys: Iterable[SourceKey]) -> dict[SourceKey, Source]:
        """Exactly these sources, as `read_sources` reads them, each request sent at most once."""
        wanted = sorted(set(keys))
        self.prefetch(wanted)
        return {key: self._sources[key].result() for key in wanted}


def reference_problems(
    desired: Sequence[DesiredEntry], sources: Mapping[SourceKey, Source], kind: Kind
) -> list[Problem]:
    """Each entry's dashboard or report exists, and each preset's filter belongs to that dashboard."""
    problems = []
    for entry in desired:
        key = kind.source_key(entry.fields)
        source = sources.get(key) if key else None
        if source is None:
            continue
        if not source.exists:
            problems.append(
                Problem(
                    entry.file,
                    entry.line_of("source_id"),
                    f"{entry.key}.source_id",
                    f"{source.source_type} {source.source_id} does not exist in the workspace",
                )
            )
            continue
        if source.filter_ids is None:
            continue
        for i, preset in enumerate(entry.fields.get("dynamic_filter_presets") or []):
            filter_id = str(preset.get("dynamic_filter_id"))
            if filter_id not in source.filter_ids:
                path = f"dynamic_filter_presets.{i}.dynamic_filter_id"
                known = ", ".join(sorted(source.filter_ids)) or "none"
                problems.append(
                    Problem(
                        entry.file,
                        entry.line_of(path),
                        f"{entry.key}.{path}",
                        f"dashboard {source.source_id} has no dynamic filter {filter_id} (it has: {known})",
                    )
                )
    return problems
