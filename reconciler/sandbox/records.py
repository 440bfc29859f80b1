"""A data schedule as the sandbox stores and returns it, and the two ways a request about one fails.

Why a module of its own: what the server fills in (ids, the archive flag, the spec's defaults and
nulls) and what it ignores (read-only fields sent back) is the sandbox's model of the real server,
apart from where the schedules are kept (`state`). The exceptions are named for what the sandbox
answers with, so they are not mistaken for the client's errors of similar meaning.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from functools import cache
from typing import Any

from reconciler import spec


class NoSuchRecord(Exception):
    """The sandbox answers 404 (a BaseError): no record of this kind has this id."""

    def __init__(self, kind: str, ident: object) -> None:
        super().__init__(f"Couldn't find {kind} with 'id'={ident}")


class RecordRefused(Exception):
    """The sandbox answers 422 (a RecordError): `record` holds the messages per field."""

    def __init__(self, record: dict[str, list[str]]) -> None:
        self.record = record
        fields = "; ".join(f"{k}: {', '.join(v)}" for k, v in record.items())
        super().__init__(f"Data schedule is invalid: {fields}")


def server_time() -> str:
    """Now, as the server writes its timestamps."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# ---- what the server fills in for fields the client left out ----


def _is_nullable(node: Mapping[str, Any]) -> bool:
    if node.get("nullable"):
        # OpenAPI 3.0.3: an enum must list null itself for null to be valid (SftpDest.separator doesn't)
        return "enum" not in node or None in node["enum"]
    refs = [b["$ref"].rsplit("/", 1)[-1] for b in node.get("anyOf", []) if "$ref" in b]
    return any(spec.schema(name).get("nullable") for name in refs)


@cache
def _spec_defaults(schema_name: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, node in spec.properties(spec.schema(schema_name)).items():
        if "default" in node:
            out[name] = node["default"]
        elif _is_nullable(node):
            out[name] = None
    return out


def _defaults(schema_name: str) -> dict[str, Any]:
    """Absent properties as a serializer would render them: the spec's `default`, else null when
    nullable. Fields without either are left absent (the spec gives no value to invent)."""
    return copy.deepcopy(_spec_defaults(schema_name))


def _stored_preset(sent: Mapping[str, Any], preset_id: Callable[[Any], int]) -> dict[str, Any]:
    preset = {k: v for k, v in sent.items() if k != "id"}
    condition = dict(preset.get("preset_condition") or {})
    for key, value in _defaults("Condition").items():
        condition.setdefault(key, value)
    stored = {"id": preset_id(sent.get("id")), **preset, "preset_condition": condition}
    for key, value in _defaults("DynamicFilterPreset").items():
        stored.setdefault(key, value)
    return stored


def stored_form(
    body: Mapping[str, Any],
    *,
    schedule_id: int,
    preset_id: Callable[[Any], int],
    is_archived: bool = False,
) -> dict[str, Any]:
    """A data schedule as the server stores and returns it: `id`, preset ids and
    `schedule.is_archived` set by the server, absent nullable fields null, everything else as sent.
    Unknown top-level keys are dropped (as strong parameters would); `dest` keeps all it was sent.
    `preset_id(sent_id)` decides each preset's id."""
    top = _defaults("DataSchedule")
    out: dict[str, Any] = {
        "id": schedule_id,
        "title": body.get("title", top.get("title")),
        "source_type": body.get("source_type"),
        "source_id": body.get("source_id"),
    }
    schedule = {k: v for k, v in dict(body.get("schedule") or {}).items() if k != "is_archived"}
    out["schedule"] = {**schedule, "is_archived": is_archived}
    out["dynamic_filter_presets"] = [
        _stored_preset(sent, preset_id)
        for sent in body.get("dynamic_filter_presets") or []
        if isinstance(sent, Mapping)
    ]
    dest = dict(body.get("dest") or {})
    branch = spec.dest_branches().get(str(dest.get("type")))
    if branch is not None:
        dest = {**_defaults(branch), **dest}
    out["dest"] = {"type": dest.pop("type", None), **dest}
    return out


def without_read_only(body: Mapping[str, Any]) -> dict[str, Any]:
    """The client's body without what the server assigns (a real server ignores these)."""
    out = {k: copy.deepcopy(v) for k, v in body.items() if k != "id"}
    if isinstance(out.get("schedule"), dict):
        out["schedule"].pop("is_archived", None)
    for preset in out.get("dynamic_filter_presets") or []:
        if isinstance(preset, dict):
            preset.pop("id", None)
    return out


_REQUIRED = re.compile(r"'([^']+)' is a required property")


def missing_at_field(errors: dict[str, list[str]]) -> dict[str, list[str]]:
    """A missing required field is reported under its own path (`schedule.paused: is required`)
    rather than its parent's, as a client would show it next to the field."""
    out: dict[str, list[str]] = {}
    for path, messages in errors.items():
        for message in messages:
            if match := _REQUIRED.fullmatch(message):
                key = match[1] if path == "base" else f"{path}.{match[1]}"
                out.setdefault(key, []).append("is required")
            else:
                out.setdefault(path, []).append(message)
    return out
