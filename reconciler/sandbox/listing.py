"""The sandbox's listings (`GET /data_schedules`, `GET /data_alerts`): parameters, order, cursors.

Each listing takes the parameters the spec gives its path, and nothing a listing of another kind has
and it lacks: the alert listing has cursors but no `sort`, no `page` and no `total_count`, so a
`sort` or `page` sent to it is refused (a client that assumed the schedule listing's extras fails
loudly here, not against Holistics). Which extras a listing has is the kind's (`Kind.listing_sorts`,
`Kind.listing_counts`); the parameter names, enums and limits are the spec's.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from reconciler import spec
from reconciler.kinds import Kind
from reconciler.kinds.known import KINDS, kind_named
from reconciler.sandbox.replies import Query, int_param, invalid, one
from reconciler.sandbox.state import State

SUPPORTED_SORT_FIELDS = ("id", "title", "destination", "source_title")


@dataclass(frozen=True)
class ListQuery:
    """A listing's filters and order, checked in the order Holistics reports them."""

    source_type: str | None
    source_id: int | str | None  # an int for schedules; the text sent for alerts (matched as text)
    dest_type: str | None
    term: str | None
    sort: str


@cache
def parameters(kind_key: str) -> dict[str, dict[str, Any]]:
    """name -> the spec's parameter, of the listing of the kind named `kind_key` ($refs followed)."""
    components = spec.subset()["components"].get("parameters", {})
    out: dict[str, dict[str, Any]] = {}
    for param in spec.subset()["paths"][kind_named(kind_key).path]["get"]["parameters"]:
        if "$ref" in param:
            param = components[str(param["$ref"]).rsplit("/", 1)[-1]]
        out[str(param["name"])] = param
    return out


def _enum(kind: Kind, name: str) -> tuple[str, ...]:
    param = parameters(kind.yaml_key).get(name)
    return tuple(param["schema"]["enum"]) if param is not None else ()


def _sort_key(state: State, field_name: str) -> Callable[[dict[str, Any]], list[Any]]:
    # every key ends in the id, so the order is total and a cursor names one position
    keys: dict[str, Callable[[dict[str, Any]], list[Any]]] = {
        "id": lambda s: [s["id"]],
        "title": lambda s: [(s.get("title") or "").lower(), s["id"]],
        "destination": lambda s: [str((s.get("dest") or {}).get("type")), s["id"]],
        "source_title": lambda s: [state.source_title(s).lower(), s["id"]],
    }
    return keys[field_name]


def encode_cursor(key: list[Any]) -> str:
    raw = json.dumps(key, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, like: list[Any]) -> list[Any]:
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise invalid("Invalid cursor") from None
    if not (
        isinstance(key, list)
        and len(key) == len(like)
        and all(type(a) is type(b) for a, b in zip(key, like, strict=True))
    ):
        raise invalid("Invalid cursor (it belongs to another sort order)")
    return key


def _schedule_query(kind: Kind, query: Query) -> ListQuery:
    sort = one(query, "sort") or "id_asc"
    if sort not in _enum(kind, "sort"):
        raise invalid(f"Invalid parameter sort: must be one of {', '.join(_enum(kind, 'sort'))}")
    if sort.rpartition("_")[0] not in SUPPORTED_SORT_FIELDS:
        raise invalid(f"sort={sort} is valid for Holistics but not supported by the sandbox")
    source_type = one(query, "source_type")
    if source_type is not None and source_type not in _enum(kind, "source_type"):
        raise invalid(f"Invalid parameter source_type: {source_type!r}")
    source_id = int_param(query, "source_id", 0)
    dest_type = one(query, "dest_type")
    # the filter's enum leaves out GsheetDest, yet schedules have it: accept both lists
    if dest_type is not None and dest_type not in {*_enum(kind, "dest_type"), *spec.dest_branches()}:
        raise invalid(f"Invalid parameter dest_type: {dest_type!r}")
    # creator_roles: every sandbox schedule was made by the key's (admin) user, so it filters nothing
    return ListQuery(source_type, source_id, dest_type, one(query, "search_term"), sort)


def _plain_query(kind: Kind, query: Query) -> ListQuery:
    """A listing without the schedule listing's extras (the alert listing): what another kind's
    listing takes and this one does not is refused, and each enum filter takes only its enum's values
    (`dest_type`: EmailDest and SlackDest, not WebhookDest)."""
    known = parameters(kind.yaml_key)
    for other in KINDS:
        for name in parameters(other.yaml_key):
            if name not in known and name in query:
                raise invalid(f"Invalid parameter {name}: the {kind.noun} listing has no {name}")
    for name in ("source_type", "dest_type"):
        value = one(query, name)
        if value is not None and value not in _enum(kind, name):
            raise invalid(f"Invalid parameter {name}: must be one of {', '.join(_enum(kind, name))}, got {value!r}")
    # source_id is an integer or a string: a stored 42 and "42" both match `source_id=42`
    return ListQuery(
        one(query, "source_type"), one(query, "source_id"), one(query, "dest_type"), one(query, "search_term"), "id_asc"
    )


def read_query(kind: Kind, query: Query) -> ListQuery:
    return _schedule_query(kind, query) if kind.listing_sorts else _plain_query(kind, query)


def _limit(kind: Kind, query: Query) -> int:
    schema = parameters(kind.yaml_key)["limit"]["schema"]
    return int_param(query, "limit", int(schema["minimum"]), int(schema["maximum"])) or int(schema["default"])


def _same_source(stored: Any, wanted: int | str) -> bool:
    return str(stored) == wanted if isinstance(wanted, str) else bool(stored == wanted)


def _cursor_window(query: Query, keys: list[list[Any]], limit: int, desc: bool) -> tuple[int, int]:
    """[start, end) of the page the `after` / `before` cursors ask for."""

    def later(a: list[Any], b: list[Any]) -> bool:  # a comes after b in this order
        return a < b if desc else a > b

    after, before = one(query, "after"), one(query, "before")
    low, high = 0, len(keys)
    if after:
        boundary = decode_cursor(after, keys[0] if keys else [])
        # keys are in order, so "comes after the cursor" is False...False True...True
        low = bisect.bisect_left(keys, True, key=lambda k: later(k, boundary))
    if before:
        boundary = decode_cursor(before, keys[0] if keys else [])
        high = bisect.bisect_left(keys, True, key=lambda k: not later(boundary, k))
    if before and not after:  # the page just before the cursor
        return max(low, high - limit), high
    return low, min(high, low + limit)


_Ordered = tuple[list[dict[str, Any]], list[list[Any]]]  # a query's records in order, and their sort keys
Served = Callable[[list[dict[str, Any]]], list[dict[str, Any]]]


class Listings:
    """Every kind's listing over one state."""

    def __init__(self, state: State) -> None:
        self.state = state
        # per kind, per query (filters and sort) of the current snapshot: a client walking from both
        # ends asks for two orders in turn, and each must not sort all N again
        self._cache: dict[str, tuple[list[dict[str, Any]], dict[ListQuery, _Ordered]]] = {}

    def page(self, kind: Kind, query: Query, served: Served) -> dict[str, Any]:
        """One page of `kind`'s listing: `{<list_key>, cursors}`, and `total_count` where it counts."""
        limit = _limit(kind, query)
        page = int_param(query, "page", 1) if "page" in parameters(kind.yaml_key) else None
        params = read_query(kind, query)
        items, keys = self._ordered(kind, self.state.snapshot(kind), params)
        if page is not None:  # offset paging wins over cursors, as the spec says
            start = (page - 1) * limit
            end = min(start + limit, len(items))
        else:
            start, end = _cursor_window(query, keys, limit, desc=params.sort.rpartition("_")[2] == "desc")
        window = served(items[start:end]) if start < end else []
        cursors = {
            "previous": encode_cursor(keys[start]) if window and start > 0 else None,
            "next": encode_cursor(keys[end - 1]) if window and end < len(items) else None,
        }
        body: dict[str, Any] = {kind.list_key: window}
        if kind.listing_counts:
            body["total_count"] = len(items)
        body["cursors"] = cursors
        return body

    def _ordered(self, kind: Kind, snapshot: list[dict[str, Any]], params: ListQuery) -> _Ordered:
        """The filtered, sorted records and their sort keys, computed once per state and query:
        paging through N records must not sort all N again for every page."""
        cache = self._cache.get(kind.yaml_key)
        if cache is None or cache[0] is not snapshot:
            cache = self._cache[kind.yaml_key] = (snapshot, {})
        found = cache[1].get(params)  # handler threads share the cache: one lookup, no check-then-get
        if found is not None:
            return found
        items = [s for s in snapshot if _kept(s, params)]
        field_name, _, direction = params.sort.rpartition("_")
        key = _sort_key(self.state, field_name)
        items.sort(key=key, reverse=direction == "desc")
        keys = [key(s) for s in items]
        if len(cache[1]) >= 8:  # a few orders and filters at a time; not every query ever made
            cache[1].clear()
        cache[1][params] = (items, keys)
        return items, keys


def _kept(record: dict[str, Any], params: ListQuery) -> bool:
    if params.source_type is not None and record["source_type"] != params.source_type:
        return False
    if params.source_id is not None and not _same_source(record["source_id"], params.source_id):
        return False
    if params.dest_type is not None and (record.get("dest") or {}).get("type") != params.dest_type:
        return False
    return not params.term or params.term.lower() in (record.get("title") or "").lower()
