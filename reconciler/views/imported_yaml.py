"""The YAML text `import` writes: the editor's schema line at the top, then each entry under a
comment naming its dashboard or report by title (see `comment`), strings quoted where a raw form
would read back changed. A file holds a `schedules:` map, an `alerts:` map, or both."""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ruamel.yaml import YAML
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

from reconciler.kinds import SourceKey
from reconciler.kinds.alerts import ALERTS
from reconciler.kinds.schedules import source_key
from reconciler.remote.reads import Source

_SOURCE_KINDS = {
    "Dashboard": "dashboard",
    "QueryReport": "query report",
    "DashboardWidget": "dashboard widget",
    "VizBlock": "viz block",
}
TITLE_LIMIT = 120  # characters of a title shown in a comment; the rest is elided


def comment(schedule: Mapping[str, Any], sources: Mapping[SourceKey, Source]) -> str | None:
    """`dashboard 1234 "Sales Performance"`: the source an entry delivers, by title when it could be
    read. The title is the workspace's text: quoted, with `"` and `\\` escaped and every character
    that is not printable (a line break, a control, a bidi override) written as its escape, so it
    can neither end the comment nor add a key."""
    if schedule.get("source_type") in ALERTS.source_types:
        return _alert_source(schedule)
    key = source_key(schedule)
    if key is None:
        return None
    text = f"{source_kind(key[0])} {key[1]}"
    source = sources.get(key)
    if source is not None and not source.exists:
        return f"{text} (not found)"
    if source is not None and source.title:
        return f'{text} "{_safe(str(source.title), TITLE_LIMIT)}"'
    return text


def _alert_source(alert: Mapping[str, Any]) -> str | None:
    """`viz block "vb-42"`, `dashboard widget 12`: an alert's source, which has no title of its own in
    the API; a string id in quotes, as the YAML holds it."""
    source_type, source_id = alert.get("source_type"), alert.get("source_id")
    if not isinstance(source_type, str) or source_id is None:
        return None
    shown = f'"{_safe(source_id)}"' if isinstance(source_id, str) else _safe(str(source_id))
    return f"{source_kind(source_type)} {shown}"


def source_kind(source_type: str) -> str:
    """`dashboard`, `query report`, or the type the server named, escaped."""
    return _SOURCE_KINDS.get(source_type, _safe(source_type))


def _safe(text: str, limit: int | None = None) -> str:
    """`text` escaped for a comment, cut to `limit` characters (then "...")."""
    if limit is not None and len(text) > limit:
        return "".join(map(_escape, text[:limit])) + "..."
    return "".join(map(_escape, text))


@cache
def _escape(char: str) -> str:
    """A quote and a backslash escaped; anything not printable as Python writes it (`\\n`, `\\x1b`, `\\u2028`)."""
    if char in '\\"':
        return "\\" + char
    return char if char.isprintable() else char.encode("unicode_escape").decode("ascii")


SCHEMA_FILE = "schedules.schema.json"  # `holistics-schedules schema > schedules.schema.json`, at the project root


def schema_reference(out_dir: Path, root: Path) -> str:
    """The `$schema` a file in `out_dir` names: the project's schema file, relative to the file
    (`../schedules.schema.json` for `schedules/`), as a URI reference (a space or a line break in a
    directory name is percent-encoded, so the modeline stays one line and one token)."""
    target = Path(os.path.abspath(root / SCHEMA_FILE))
    try:
        relative = Path(os.path.relpath(target, os.path.abspath(out_dir))).as_posix()
    except ValueError:  # another drive
        relative = target.as_posix()
    return quote(relative, safe="/._-~")


def _quoted_where_needed(value: Any) -> Any:
    """Strings holding anything but printable characters go in double quotes, with YAML's escapes
    (\\N, \\L, \\e, \\t): written raw, NEL and line separators are line breaks to libyaml, and a
    title would read back changed (the next plan a diff, the next apply an update)."""
    if isinstance(value, str):
        return value if value.isprintable() else DoubleQuotedScalarString(value)
    if isinstance(value, Mapping):
        return {k: _quoted_where_needed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_quoted_where_needed(v) for v in value]
    return value


HEADER = "# Imported from the Holistics workspace by `holistics-schedules import`."


def render(
    schedules: Mapping[str, Mapping[str, Any]],
    *,
    comments: Mapping[str, str | None] | None = None,
    schema: str | None = None,
    alerts: Mapping[str, Mapping[str, Any]] | None = None,
) -> str:
    """A schedule file: the schema line (when `schema` is given), then each entry under its comment
    (`comments`: key -> text), a blank line between entries: the `schedules:` map (unless there are
    only alerts), then the `alerts:` map when there are any. Each entry is dumped on its own, so
    where one starts is known, not guessed from the text."""
    parts = [f"# yaml-language-server: $schema={schema}\n" if schema is not None else "", HEADER + "\n"]
    if schedules or not alerts:
        parts.append(_section("schedules", schedules, comments or {}))
    if alerts:
        parts.append(("\n" if schedules else "") + _section("alerts", alerts, comments or {}))
    return "".join(parts)


def _section(top: str, entries: Mapping[str, Mapping[str, Any]], comments: Mapping[str, str | None]) -> str:
    yaml = YAML()
    yaml.default_flow_style = False
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    parts = [f"{top}:\n"]
    for n, (key, data) in enumerate(entries.items()):
        out = io.StringIO()
        yaml.dump({top: {key: _quoted_where_needed(dict(data))}}, out)
        text = out.getvalue().removeprefix(f"{top}:\n")
        note = comments.get(key)
        parts += ["\n" if n else "", f"  # {note}\n" if note else "", text]
    return "".join(parts)
