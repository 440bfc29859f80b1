"""A data schedule or alert as the sandbox stores and returns it, and the two ways a request about one
fails.

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

    def __init__(self, record: dict[str, list[str]], noun: str = "schedule") -> None:
        self.record = record
        fields = "; ".join(f"{k}: {', '.join(v)}" for k, v in record.items())
        super().__init__(f"Data {noun} is invalid: {fields}")


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


def _stored_parts(
    body: Mapping[str, Any], ident: int, preset_id: Callable[[Any], int], is_archived: bool
) -> dict[str, Any]:
    """What a schedule and an alert store alike: id, source kept exactly as sent, schedule, presets."""
    out: dict[str, Any] = {"id": ident, "source_type": body.get("source_type"), "source_id": body.get("source_id")}
    schedule = {k: v for k, v in dict(body.get("schedule") or {}).items() if k != "is_archived"}
    out["schedule"] = {**schedule, "is_archived": is_archived}
    out["dynamic_filter_presets"] = [
        _stored_preset(sent, preset_id)
        for sent in body.get("dynamic_filter_presets") or []
        if isinstance(sent, Mapping)
    ]
    return out


def _stored_dest(body: Mapping[str, Any], branches: Mapping[str, str]) -> dict[str, Any]:
    dest = dict(body.get("dest") or {})
    branch = branches.get(str(dest.get("type")))
    if branch is not None:
        dest = {**_defaults(branch), **dest}
    return {"type": dest.pop("type", None), **dest}


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
    parts = _stored_parts(body, schedule_id, preset_id, is_archived)
    out = {"id": schedule_id, "title": body.get("title", _defaults("DataSchedule").get("title")), **parts}
    out["dest"] = _stored_dest(body, spec.dest_branches())
    return out


def alert_dest_branches() -> dict[str, str]:
    """dest.type -> schema name, from the discriminator mapping of DataAlert.dest."""
    mapping = spec.schema("DataAlert")["properties"]["dest"]["discriminator"]["mapping"]
    return {k: str(v).rsplit("/", 1)[-1] for k, v in mapping.items()}


def _stored_condition(sent: Mapping[str, Any], condition_id: Callable[[Any], int]) -> dict[str, Any]:
    stored = {"id": condition_id(sent.get("id")), **{k: v for k, v in sent.items() if k != "id"}}
    for key, value in _defaults("VizCondition").items():
        stored.setdefault(key, value)
    if isinstance(stored.get("condition"), Mapping):
        stored["condition"] = {**_defaults("Condition"), **stored["condition"]}
    return stored


def stored_alert(
    body: Mapping[str, Any],
    *,
    alert_id: int,
    preset_id: Callable[[Any], int],
    condition_id: Callable[[Any], int],
    is_archived: bool = False,
) -> dict[str, Any]:
    """A data alert as the server stores and returns it: as `stored_form` does a schedule, and each
    viz condition given its id by `condition_id(sent_id)`. `source_id` is kept exactly as sent (42 and
    "42" are two values); a title left out stays out (the spec's DataAlert title is not nullable)."""
    out = _stored_parts(body, alert_id, preset_id, is_archived)
    if "title" in body:
        out = {"id": alert_id, "title": body["title"], **out}
    sent = body.get("viz_conditions", _defaults("DataAlert").get("viz_conditions"))
    out["viz_conditions"] = (
        [_stored_condition(c, condition_id) for c in sent if isinstance(c, Mapping)] if isinstance(sent, list) else None
    )
    out["dest"] = _stored_dest(body, alert_dest_branches())
    return out


def without_read_only(body: Mapping[str, Any]) -> dict[str, Any]:
    """The client's body without what the server assigns (a real server ignores these)."""
    out = {k: copy.deepcopy(v) for k, v in body.items() if k != "id"}
    if isinstance(out.get("schedule"), dict):
        out["schedule"].pop("is_archived", None)
    for name in ("dynamic_filter_presets", "viz_conditions"):  # their ids are the server's to give
        for part in out.get(name) or []:
            if isinstance(part, dict):
                part.pop("id", None)
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
