"""The kinds of resource the tool keeps as code, and what the pipeline asks of one.

Everything specific to a kind (its YAML key, API path and wrapper, models, schema, source and
destination types, matching bucket, server-assigned fields) is one `Kind` value in its own module
(`kinds.schedules`); the core, the remote side and the use cases take the kind and ask it. A new kind
(data alerts) is one more such module.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeGuard

if TYPE_CHECKING:
    from pydantic import BaseModel

    from reconciler import spec

SourceKey = tuple[str, int]
Bucket = tuple[Any, ...]


def bucket_part(value: Any) -> Any:
    """A value of a bucket, hashable whatever the server sent there (a source id as an object would
    stop every plan): a list or an object stands for itself as text, and matches no entry."""
    if isinstance(value, dict | list):
        return ("unreadable", repr(value))
    return value


_NO_MAPPINGS = frozenset({str, int, float, bool, type(None), list})


def is_mapping(value: Any) -> TypeGuard[Mapping[Any, Any]]:
    """`isinstance(value, Mapping)`, the plain JSON types first: an ABC's isinstance is slow, and the
    comparisons of a plan ask it of every field of every item (issue 22)."""
    kind = type(value)
    return kind is dict or (kind not in _NO_MAPPINGS and isinstance(value, Mapping))


class WithoutServerFields(Protocol):
    """A copy of an item less what the server assigns. Field by field: what a top-level field keeps
    depends on that field alone (the comparison strips a whole item once, and takes fields from it)."""

    def __call__(self, item: Mapping[str, Any], /, *, keep_id: bool = False) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Kind:
    """One kind of resource, as the YAML, the API and the spec know it."""

    yaml_key: str  # the schedule files' top-level key, and the kind's name in plans: `schedules`
    noun: str  # one of them, in messages: `schedule`
    path: str  # the API collection: `/data_schedules`
    wrapper: str  # the key a request or reply wraps one in: `data_schedule`
    list_key: str  # the key of a listing page's items: `data_schedules`
    schema: str  # the spec's schema of one: `DataSchedule`
    # one YAML entry's model, imported when first asked for (`model`): the listing starts without pydantic
    load_model: Callable[[], type[BaseModel]]
    source_types: tuple[str, ...]  # what it can deliver: Dashboard, QueryReport
    dest_types: tuple[str, ...]  # where it can deliver, as the YAML can declare it
    immutable: tuple[str, ...]  # fields the server cannot change in place: a change is a replacement
    listing_sorts: bool  # the listing takes `sort=id_desc` (the two-ended listing needs it)
    listing_counts: bool  # the listing's pages say `total_count`
    # assigned or owned by the server: never compared, never sent back, never written to YAML
    without_server_fields: WithoutServerFields
    # entries are only ever matched to remote items of their own bucket; apply serialises a bucket's creates
    bucket: Callable[[Mapping[str, Any]], Bucket]
    source_key: Callable[[Mapping[str, Any]], SourceKey | None]  # the dashboard or report it delivers

    @property
    def model(self) -> type[BaseModel]:
        """One YAML entry, validated."""
        return self.load_model()

    def declarable(self, item: Mapping[str, Any], *, values: bool = True) -> bool:
        """Whether the YAML can hold this remote item at all: a source and destination type it can
        declare, and (with `values`) values it accepts (a `@daily` cron or a malformed address made in
        the UI it cannot). What it cannot hold, it cannot keep from a prune either, so such an item is
        never deleted. The values check validates the whole item: callers keep it to deletion candidates."""
        dest = item.get("dest")
        dest_type = dest.get("type") if isinstance(dest, Mapping) else None
        if item.get("source_type") not in self.source_types or dest_type not in self.dest_types:
            return False
        if not values:
            return True
        try:
            self.model.model_validate(self.without_server_fields(item, keep_id=True))
        except ValueError:  # pydantic's ValidationError is a ValueError
            return False
        return True

    def view(self, item: Mapping[str, Any], extras: set[str] | None = None) -> dict[str, Any]:
        """`item` as the spec documents it: a field the spec does not list (a real server adds
        `created_at`, an owner, a last run...) is left out, and its dotted path (`dest.id`,
        `dynamic_filter_presets[].data_schedule_id`) added to `extras`, so it never reaches a diff,
        an adoption or a PUT body. A part of a branch the spec does not map is kept whole."""
        from reconciler import spec  # loaded while the listing is under way, not before its first request

        kept, left_out = spec.split_documented(item, spec.schema(self.schema), every_branch=True)
        if extras is not None:
            extras.update(_dotted(path) for path in left_out)
        out: dict[str, Any] = kept
        return out


def _dotted(path: spec.PathParts) -> str:
    text = ""
    for part in path:
        text += "[]" if isinstance(part, int) else f".{part}" if text else part
    return text
