"""Schedule YAML files: reading them with a line for every field, and writing ids back in place.

Everything that can be wrong with the files is collected as `Problem`s (file, line, key path,
message), so that `validate` lists every error at once and no command starts with bad input.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, SequenceNode

from reconciler.models import DEST_MODELS, DataScheduleSpec

SCHEDULE_SUFFIXES = (".yml", ".yaml")
KEY_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_CORE_TAGS = {
    f"tag:yaml.org,2002:{name}" for name in ("str", "int", "float", "bool", "null", "map", "seq", "merge", "timestamp")
}


@dataclass(frozen=True, order=True)
class Problem:
    file: str
    line: int
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.path}: {self.message}"


class InvalidSchedules(Exception):
    """The schedule files have problems; nothing may be planned or applied from them."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = sorted(problems)
        super().__init__("\n".join(map(str, self.problems)))


@dataclass(frozen=True)
class DesiredSchedule:
    """One validated YAML entry: the schedule `key` wants, with where each field was written."""

    key: str
    id: int | None
    fields: Mapping[str, Any]
    file: str
    line: int
    field_lines: Mapping[str, int] = field(default_factory=dict, compare=False, repr=False)

    def line_of(self, path: str) -> int:
        """The line of a dotted field path, or of its nearest written parent."""
        parts = path.split(".")
        while parts:
            line = self.field_lines.get(".".join(parts))
            if line is not None:
                return line
            parts.pop()
        return self.line


def discover(paths: Iterable[Path]) -> list[Path]:
    """Every schedule file under `paths` (files given directly are taken whatever their suffix)."""
    found: set[Path] = set()
    for path in paths:
        if path.is_dir():
            found.update(p for p in path.rglob("*") if p.suffix in SCHEDULE_SUFFIXES and p.is_file())
        elif path.exists():
            found.add(path)
        else:
            raise InvalidSchedules([Problem(str(path), 0, "-", "no such file or directory")])
    return sorted(found)


def load(paths: Iterable[Path]) -> list[DesiredSchedule]:
    """Read and validate every schedule file; raise InvalidSchedules listing all problems."""
    problems: list[Problem] = []
    schedules: list[DesiredSchedule] = []
    for file in discover(paths):
        file_schedules, file_problems = _load_file(file)
        schedules += file_schedules
        problems += file_problems
    problems += _cross_file_problems(schedules)
    if problems:
        raise InvalidSchedules(problems)
    return schedules


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    return yaml


def _load_file(file: Path) -> tuple[list[DesiredSchedule], list[Problem]]:
    name = str(file)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return [], [Problem(name, 0, "-", f"cannot read file: {exc}")]
    try:
        tag_problems = [Problem(name, line, "-", msg) for line, msg in _foreign_tags(_yaml().compose(text))]
        if tag_problems:
            return [], tag_problems
        document = _yaml().load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 0
        duplicate = re.match(r'found duplicate key "(.*?)" with value', str(exc.problem or ""))
        if duplicate:
            return [], [Problem(name, line, duplicate[1], "duplicate key in this mapping")]
        return [], [Problem(name, line, "-", f"YAML syntax: {exc.problem or exc.context}")]
    except YAMLError as exc:
        return [], [Problem(name, 0, "-", f"YAML syntax: {exc}")]

    if document is None:
        return [], []
    if not isinstance(document, CommentedMap):
        return [], [Problem(name, 1, "-", "the file must be a mapping with a `schedules:` key")]
    problems = [
        Problem(
            name,
            _key_line(document, key),
            str(key),
            "unknown top-level key; expected `schedules` (or `x-...` for anchors)",
        )
        for key in document
        if key != "schedules" and not str(key).startswith("x-")  # x-*: a home for anchors
    ]
    entries = document.get("schedules")
    if entries is None:
        return [], problems
    if not isinstance(entries, CommentedMap):
        return [], [*problems, Problem(name, _key_line(document, "schedules"), "schedules", "must be a mapping")]

    schedules: list[DesiredSchedule] = []
    for key, raw in entries.items():
        line = _key_line(entries, key)
        if not isinstance(key, str) or not KEY_PATTERN.match(key):
            problems.append(
                Problem(name, line, str(key), "a key is letters, digits, '_', '-' or '.', not starting with those")
            )
            continue
        lines: dict[str, int] = {}
        try:
            data = _plain(raw, lines, "", line)
        except _TooComplex:
            problems.append(Problem(name, line, key, "too large or too deeply nested (do aliases expand too far?)"))
            continue
        if not isinstance(data, dict):
            problems.append(Problem(name, line, key, "must be a mapping of schedule fields"))
            continue
        try:
            model = DataScheduleSpec.model_validate(data)
        except ValidationError as exc:
            problems += _validation_problems(name, key, line, data, lines, exc)
            continue
        schedules.append(DesiredSchedule(key, model.id, model.api_fields(), name, line, lines))
    return schedules, problems


def _foreign_tags(node: Node | None) -> Iterable[tuple[int, str]]:
    """Explicit tags other than YAML's core ones (`!!python/...`, `!custom`) are refused outright."""
    seen: set[int] = set()
    stack = [node] if node is not None else []
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        tag = getattr(current.tag, "value", current.tag)
        if tag is not None and tag not in _CORE_TAGS:
            yield current.start_mark.line + 1, f"YAML tag {tag!r} is not allowed"
        if isinstance(current, MappingNode):
            for key_node, value_node in current.value:
                stack += [key_node, value_node]
        elif isinstance(current, SequenceNode):
            stack += current.value


def _key_line(mapping: CommentedMap, key: Any) -> int:
    try:
        return int(mapping.lc.key(key)[0]) + 1
    except (KeyError, TypeError, AttributeError):
        return int(mapping.lc.line) + 1


MAX_NODES_PER_ENTRY = 50_000
MAX_DEPTH = 32


class _TooComplex(Exception):
    """An entry that aliases expand beyond any real schedule (an alias bomb, a self-reference)."""


def _plain(node: Any, lines: dict[str, int], path: str, line: int) -> Any:
    """ruamel's round-trip objects -> plain Python, noting the line of each field path."""
    if len(lines) > MAX_NODES_PER_ENTRY or path.count(".") > MAX_DEPTH:
        raise _TooComplex
    if path:
        lines[path] = line
    if isinstance(node, CommentedMap):
        return {
            str(k): _plain(
                v, lines, f"{path}.{k}" if path else str(k), _key_line(node, k) if k in (node.lc.data or {}) else line
            )
            for k, v in node.items()
        }
    if isinstance(node, CommentedSeq):
        return [
            _plain(v, lines, f"{path}.{i}", int(node.lc.item(i)[0]) + 1 if i in (node.lc.data or {}) else line)
            for i, v in enumerate(node)
        ]
    if isinstance(node, dt.date | dt.datetime):
        return node.isoformat()  # an unquoted date in a condition value means the string
    if isinstance(node, bool):
        return bool(node)
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    return node


_MESSAGES = {
    "extra_forbidden": "unknown field",
    "missing": "missing required field",
}


def _validation_problems(
    file: str, key: str, line: int, data: dict[str, Any], lines: dict[str, int], exc: ValidationError
) -> list[Problem]:
    by_path: dict[str, list[str]] = {}
    for error in exc.errors(include_url=False):
        path = _data_path(data, error["loc"])
        message = _MESSAGES.get(error["type"], error["msg"].removeprefix("Value error, "))
        if error["type"] == "union_tag_invalid":
            tag = (error.get("ctx") or {}).get("tag")
            message = f"unknown dest type {tag!r}; one of: {', '.join(DEST_MODELS)}"
            path = [*path, "type"]
        elif error["type"] == "union_tag_not_found":
            message = f"missing `type`; one of: {', '.join(DEST_MODELS)}"
        by_path.setdefault(".".join(path), [])
        if message not in by_path[".".join(path)]:
            by_path[".".join(path)].append(message)
    problems = []
    for dotted, messages in by_path.items():
        problem_line = lines.get(dotted) or _nearest_line(lines, dotted) or line
        problems.append(Problem(file, problem_line, f"{key}.{dotted}" if dotted else key, "; ".join(messages)))
    return problems


def _data_path(data: Any, loc: Sequence[int | str]) -> list[str]:
    """pydantic's error location, less the union tags it adds ('EmailDest', 'int', ...)."""
    path: list[str] = []
    node = data
    for part in loc:
        if isinstance(node, dict) and part in node:  # noqa: SIM114 - split so mypy narrows the index type
            node = node[part]
            path.append(str(part))
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
            path.append(str(part))
        elif (
            isinstance(node, dict)
            and isinstance(part, str)
            and part not in DEST_MODELS
            and "[" not in part
            and part not in ("int", "str", "bool", "float", "list", "dict", "none")
        ):
            path.append(part)  # a missing or unknown field: name it
            node = None
    return path


def _nearest_line(lines: Mapping[str, int], path: str) -> int | None:
    parts = path.split(".")
    while parts:
        parts.pop()
        if ".".join(parts) in lines:
            return lines[".".join(parts)]
    return None


def _cross_file_problems(schedules: Sequence[DesiredSchedule]) -> list[Problem]:
    problems: list[Problem] = []
    first_by_key: dict[str, DesiredSchedule] = {}
    first_by_id: dict[int, DesiredSchedule] = {}
    for s in schedules:
        if s.key in first_by_key:
            other = first_by_key[s.key]
            problems.append(Problem(s.file, s.line, s.key, f"duplicate key: also defined at {other.file}:{other.line}"))
        else:
            first_by_key[s.key] = s
        if s.id is not None:
            if s.id in first_by_id:
                other = first_by_id[s.id]
                problems.append(
                    Problem(
                        s.file,
                        s.line_of("id"),
                        f"{s.key}.id",
                        f"id {s.id} is already claimed by {other.key!r} ({other.file}:{other.line_of('id')})",
                    )
                )
            else:
                first_by_id[s.id] = s
    return problems


# ---- writing ----


def record_ids(ids_by_file: Mapping[str, Mapping[str, int]]) -> None:
    """Write `id: N` into each named entry, changing no other byte of the file.

    The line is inserted above the entry's first field with that field's indentation; entries written
    in flow style (`key: {...}`) fall back to a ruamel round-trip of that file.
    """
    for file, ids in ids_by_file.items():
        path = Path(file)
        text = path.read_text(encoding="utf-8")
        new_text = _insert_ids(text, ids)
        if new_text != text:
            atomic_write(path, new_text)


def _insert_ids(text: str, ids: Mapping[str, int]) -> str:
    yaml = _yaml()
    document = yaml.load(text)
    entries = document["schedules"]
    lines = text.splitlines(keepends=True)
    insertions: list[tuple[int, str]] = []
    flow = False
    for key, new_id in ids.items():
        entry = entries[key]
        if not isinstance(entry, CommentedMap) or "id" in entry:
            continue
        own = entry.lc.data or {}
        if not own:  # only merged keys: no line of its own to align with
            flow = True
            continue
        row, col = min(entry.lc.key(k) for k in own)
        if row == _key_line(entries, key) - 1 or entry.fa.flow_style():
            flow = True
            continue
        insertions.append((row, " " * col + f"id: {new_id}\n"))
    for row, line in sorted(insertions, reverse=True):
        lines.insert(row, line)
    new_text = "".join(lines)
    if flow:
        new_text = _roundtrip_insert(new_text, ids)
    return new_text


def _roundtrip_insert(text: str, ids: Mapping[str, int]) -> str:
    import io

    yaml = _yaml()
    yaml.preserve_quotes = True
    document = yaml.load(text)
    for key, new_id in ids.items():
        entry = document["schedules"][key]
        if "id" not in entry:
            entry.insert(0, "id", new_id)
    out = io.StringIO()
    yaml.dump(document, out)
    return out.getvalue()


def atomic_write(path: Path, text: str) -> None:
    """Write via a temporary file and rename, so a crash never leaves half a file."""
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
