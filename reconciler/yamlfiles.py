"""Schedule YAML files: reading them with a line for every field, and writing ids back in place.

Everything that can be wrong with the files is collected as `Problem`s (file, line, key path,
message), so that `validate` lists every error at once and no command starts with bad input.
"""

from __future__ import annotations

import gc
import os
import re
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml as yamllib  # PyYAML: libyaml's C parser, for reading fast with a line for every node
from pydantic import ValidationError
from ruamel.yaml import YAML  # round-trip writing: comments, order and quoting survive
from ruamel.yaml.comments import CommentedMap
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from reconciler.models import DEST_MODELS, DataScheduleSpec, DesiredSchedule

SCHEDULE_SUFFIXES = (".yml", ".yaml")
KEY_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_TAG = "tag:yaml.org,2002:"
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


@contextmanager
def gc_paused() -> Iterator[None]:
    """Reading a large workspace makes hundreds of thousands of short-lived nodes, none in a cycle;
    the cyclic collector would rescan them all again and again (measured: 4x slower at 10,000)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def load(paths: Iterable[Path]) -> list[DesiredSchedule]:
    """Read and validate every schedule file; raise InvalidSchedules listing all problems."""
    problems: list[Problem] = []
    schedules: list[DesiredSchedule] = []
    with gc_paused():
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


# ---- reading: libyaml's C parser composes nodes (with their lines) once; we build the data ----


class _CoreResolver(yamllib.resolver.BaseResolver):
    """YAML 1.2's core schema, as ruamel reads it: `no`, `on` and `yes` stay strings (a country code
    NO is Norway, not false) and dates stay the text they were written as."""

    def resolve(self, kind: type, value: Any, implicit: tuple[bool, bool]) -> str:
        # the base class also walks path resolvers, which this schema has none of: a hot path
        if kind is ScalarNode:
            if implicit[0]:
                for tag, pattern in self.yaml_implicit_resolvers.get(value[:1], ()):
                    if pattern.match(value):
                        return str(tag)
            return _TAG + "str"
        return _TAG + ("seq" if kind is SequenceNode else "map")


for _tag, _pattern, _first in [
    ("bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    ("int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", "-+0123456789"),
    (
        "float",
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        "-+.0123456789",
    ),
    ("null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    ("merge", r"^(?:<<)$", "<"),
]:
    _CoreResolver.add_implicit_resolver(f"tag:yaml.org,2002:{_tag}", re.compile(_pattern), list(_first))

if yamllib.__with_libyaml__:
    from yaml.cyaml import CParser  # type: ignore[attr-defined]

    class _Composer(CParser, _CoreResolver):
        pass

else:  # pragma: no cover - PyYAML wheels ship libyaml; a source build may not

    class _Composer(  # type: ignore[no-redef]
        yamllib.reader.Reader, yamllib.scanner.Scanner, yamllib.parser.Parser, yamllib.composer.Composer, _CoreResolver
    ):
        def __init__(self, stream: str) -> None:
            yamllib.reader.Reader.__init__(self, stream)
            yamllib.scanner.Scanner.__init__(self)
            yamllib.parser.Parser.__init__(self)
            yamllib.composer.Composer.__init__(self)
            _CoreResolver.__init__(self)


def _compose(text: str) -> Node | None:
    composer = _Composer(text)
    try:
        node: Node | None = composer.get_single_node()
        return node
    finally:
        composer.dispose()


MAX_NODES_PER_ENTRY = 50_000
MAX_DEPTH = 32


class _BadNode(Exception):
    """Something in an entry that YAML allows but a schedule cannot be; reported at its line."""

    def __init__(self, line: int, path: str, message: str) -> None:
        self.line, self.path, self.message = line, path, message


def _line(node: Node) -> int:
    return int(node.start_mark.line) + 1


def _load_file(file: Path) -> tuple[list[DesiredSchedule], list[Problem]]:
    name = str(file)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return [], [Problem(name, 0, "-", f"cannot read file: {exc}")]
    try:
        root = _compose(text)
    except yamllib.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 0
        return [], [Problem(name, line, "-", f"YAML syntax: {exc.problem or exc.context}")]
    except yamllib.YAMLError as exc:
        return [], [Problem(name, getattr(exc, "line", -1) + 1, "-", f"YAML syntax: {exc}")]
    if root is None:
        return [], []
    tag_problems = [Problem(name, line, "-", msg) for line, msg in _foreign_tags(root)]
    if tag_problems:
        return [], tag_problems
    if not isinstance(root, MappingNode):
        return [], [Problem(name, _line(root), "-", "the file must be a mapping with a `schedules:` key")]

    problems: list[Problem] = []
    entries: Node | None = None
    for key_node, value_node, key, duplicate in _pairs(root):
        if key is None:
            problems.append(Problem(name, _line(key_node), "-", COMPLEX_KEY))
        elif duplicate:
            problems.append(Problem(name, _line(key_node), key, "duplicate key in this mapping"))
        elif key == "schedules":
            entries = value_node
        elif not key.startswith("x-") and key_node.tag != _TAG + "merge":  # x-*: a home for anchors
            problems.append(
                Problem(name, _line(key_node), key, "unknown top-level key: `schedules` or `x-...` (for anchors)")
            )
    if entries is None or (isinstance(entries, ScalarNode) and entries.tag == _TAG + "null"):
        return [], problems
    if not isinstance(entries, MappingNode):
        return [], [*problems, Problem(name, _line(entries), "schedules", "must be a mapping")]

    schedules: list[DesiredSchedule] = []
    for key_node, value_node, key, duplicate in _pairs(entries):
        line = _line(key_node)
        if key is None:
            problems.append(Problem(name, line, "schedules", COMPLEX_KEY))
            continue
        if duplicate:
            problems.append(Problem(name, line, key, "duplicate key in this mapping"))
            continue
        if key_node.tag != _TAG + "str":  # 123, true or null as a key: YAML reads it as a number or bool
            problems.append(Problem(name, line, key, f"a key must be a string; quote it: '{key}':"))
            continue
        if not KEY_PATTERN.match(key):
            problems.append(
                Problem(name, line, key, "a key is letters, digits, '_', '-' or '.', not starting with those")
            )
            continue
        lines: dict[str, int] = {}
        try:
            data = _plain(value_node, lines, "", line, set())
        except _BadNode as bad:
            problems.append(Problem(name, bad.line or line, f"{key}.{bad.path}" if bad.path else key, bad.message))
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


COMPLEX_KEY = "a key must be a plain value, not a list or mapping"


def _pairs(mapping: MappingNode) -> Iterable[tuple[Node, Node, str | None, bool]]:
    """(key node, value node, key, seen before) for each pair; the key is None when it is not a
    plain scalar (YAML allows a list or mapping as a key; a schedule file never needs one)."""
    seen: set[str] = set()
    for key_node, value_node in mapping.value:
        if not isinstance(key_node, ScalarNode):
            yield key_node, value_node, None, False
            continue
        key = str(key_node.value)
        yield key_node, value_node, key, key in seen and key_node.tag != _TAG + "merge"
        seen.add(key)


def _foreign_tags(node: Node) -> Iterable[tuple[int, str]]:
    """Explicit tags other than YAML's core ones (`!!python/...`, `!custom`) are refused outright."""
    seen: set[int] = set()
    stack = [node]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if current.tag not in _CORE_TAGS:
            yield _line(current), f"YAML tag {current.tag!r} is not allowed"
        if isinstance(current, MappingNode):
            for key_node, value_node in current.value:
                stack += [key_node, value_node]
        elif isinstance(current, SequenceNode):
            stack += current.value


def _plain(node: Node, lines: dict[str, int], path: str, line: int, active: set[int]) -> Any:
    """A node as plain Python, noting the line of each field path. Aliases are followed, within a
    budget (an alias bomb is refused), and never into a node that contains itself."""
    if len(lines) > MAX_NODES_PER_ENTRY or path.count(".") > MAX_DEPTH:
        raise _BadNode(0, "", "too large or too deeply nested (do aliases expand too far?)")  # 0: the entry's line
    if id(node) in active:
        raise _BadNode(_line(node), path, "refers to itself through an alias")
    if path:
        lines[path] = line
    if isinstance(node, ScalarNode):
        return _scalar(node, path, line)
    active.add(id(node))
    try:
        if isinstance(node, SequenceNode):
            return [_plain(item, lines, f"{path}.{i}", _line(item), active) for i, item in enumerate(node.value)]
        assert isinstance(node, MappingNode)
        out: dict[str, Any] = {}
        for merge in (v for k, v in node.value if k.tag == _TAG + "merge"):
            sources = merge.value if isinstance(merge, SequenceNode) else [merge]
            # the first mapping a merge lists wins, and the entry's own keys win over all of them
            for source in reversed(sources):
                merged = _plain(source, lines, path, line, active)
                if not isinstance(merged, dict):
                    raise _BadNode(_line(merge), path, "a merge key (<<) takes a mapping or a list of mappings")
                out.update(merged)
        for key_node, value_node, key, duplicate in _pairs(node):
            if key is None:
                raise _BadNode(_line(key_node), path, COMPLEX_KEY)
            if key_node.tag == _TAG + "merge":
                continue
            child = f"{path}.{key}" if path else key
            if duplicate:
                raise _BadNode(_line(key_node), child, "duplicate key in this mapping")
            out[key] = _plain(value_node, lines, child, _line(key_node), active)
        return out
    finally:
        active.discard(id(node))


def _scalar(node: Node, path: str, line: int) -> Any:
    value = str(node.value)
    kind = str(node.tag).removeprefix(_TAG)
    try:
        if kind == "null":
            return None
        if kind == "bool":
            return value.lower() == "true"
        if kind == "int":
            if value.startswith(("0o", "0x")):
                return int(value[2:], 8 if value[1] == "o" else 16)
            return int(value)
        if kind == "float":
            special = value.lower().lstrip("+-")
            if special in (".inf", ".nan"):
                return float(("-" if value.startswith("-") else "") + special[1:])
            return float(value)
    except ValueError as exc:
        raise _BadNode(line, path, f"not a valid {kind}: {value[:40]!r} ({exc})") from None
    return value  # str, and a timestamp kept as the text it was written as


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

    In a block entry the line goes above its first field, with that field's indentation and the
    file's line ending; in a flow entry (`key: {...}`) `id: N, ` goes just inside the brace. Only an
    entry that is neither (rare) falls back to a ruamel round-trip of that file.
    """
    for file, ids in ids_by_file.items():
        path = Path(file)
        with path.open(encoding="utf-8", newline="") as handle:  # newline="": keep \r\n as it is
            text = handle.read()
        new_text = _insert_ids(text, ids)
        if new_text != text:
            atomic_write(path, new_text)


def _insert_ids(text: str, ids: Mapping[str, int]) -> str:
    entries = _yaml().load(text)["schedules"]
    lines = text.splitlines(keepends=True)
    edits: list[tuple[int, int, str]] = []  # (row, column, text to insert there)
    fallback: dict[str, int] = {}
    for key, new_id in ids.items():
        entry = entries.get(key)
        if not isinstance(entry, CommentedMap) or "id" in entry:
            continue
        row, col = entries.lc.value(key)
        opener = lines[row][col : col + 1] if row < len(lines) else ""
        if opener == "*":
            continue  # an alias shares its anchor's text: writing there would change another entry
        if opener == "{":
            edits.append((row, col + 1, f"id: {new_id}, " if entry else f"id: {new_id}"))
            continue
        own = entry.lc.data or {}
        if not own:
            fallback[key] = new_id
            continue
        row, col = min(entry.lc.key(k) for k in own)
        ending = lines[row][len(lines[row].rstrip("\r\n")) :] or "\n"
        edits.append((row, 0, " " * col + f"id: {new_id}{ending}"))
    for row, col, insertion in sorted(edits, reverse=True):
        lines[row] = lines[row][:col] + insertion + lines[row][col:]
    new_text = "".join(lines)
    return _roundtrip_insert(new_text, fallback) if fallback else new_text


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
