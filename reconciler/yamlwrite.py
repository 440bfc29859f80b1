"""Writing files: ids recorded into schedule YAML in place, and every file written atomically.

After `apply` creates a schedule, its id goes into the entry that declared it, so the next plan
updates that schedule instead of creating another. The files are the user's, so the write-back
changes no other byte (comments, quoting, order and line endings stay), and no file is ever left
half written.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

from ruamel.yaml import YAML  # round-trip writing: comments, order and quoting survive
from ruamel.yaml.comments import CommentedMap


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


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    return yaml


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
