"""A cache of validated schedule files: an unchanged file is not parsed and validated again.

Reading 10,000 schedules costs about 0.9 s of CPU, most of it pydantic (five times that for files
only the full reader takes); an entry holds what reading one file gave (its `DesiredEntry`s, without
the lines of their fields: those are read from the file when one is asked for, as after a miss) and
is read back in a fraction of that. Only the per-file work is cached: the checks across files, the
scope and the config's ignore rules run on every load.

A stale entry must be impossible, not unlikely, so an entry is found by the sha256 of everything
that decides what reading the file gives: the file's exact bytes, its name as the schedules and the
messages carry it, and a fingerprint of the code that reads it (this package's own source and data
files, byte for byte, the tool's version, Python's, and the installed distributions of the libraries
validation calls, with the hashes of every file they installed; a library's file edited in place,
without reinstalling it, is the one change this cannot see). Nothing is ever invalidated: what
changes any of that looks elsewhere. Only a file that read with no problems is stored, so problems
are always found afresh, with today's messages.

An entry is used only when this machine's own validation wrote it: it is data only (JSON, never
pickle: a cache restored in CI cannot run code), repeats its key, and carries an HMAC of its key and
payload under a random secret made once per user (`key`, mode 0600, in the user's cache directory,
never in the checkout). An entry forged or committed into a repository, copied from another
machine's cache or damaged is a miss and is written anew: what the cache gives is what this
machine's validation gave. Writes go to a temporary file renamed into place, so two runs at once
never read half an entry. A location that cannot be written is no cache at all, not an error; a
directory where one entry belongs costs that entry only. Entries unread for a week are deleted when
a new one is written.

The cache lives outside the checkout, in the user's cache directory (`$XDG_CACHE_HOME`, else
`~/.cache`, as pip and pre-commit keep theirs), so `plan` and `apply` write nothing into it.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import os
import re
import stat
import sys
import time
from collections.abc import Iterator, Sequence
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

import reconciler
from reconciler.desired.cachesecret import mac, machine_secret
from reconciler.desired.envvalues import value_at
from reconciler.desired.yamlfast import FileLines
from reconciler.kinds.entries import DesiredEntry, LinesLater

APP_DIRECTORY = "holistics-schedules"  # in the user's cache directory
KEY_FILE = "key"  # the secret that authenticates entries, beside them in APP_DIRECTORY
NO_CACHE_ENV = "HOLISTICS_SCHEDULES_NO_CACHE"
CACHE_DIR_ENV = "HOLISTICS_SCHEDULES_CACHE_DIR"
UNUSED_FOR = 7 * 24 * 3600  # an entry not read for this long is deleted (when another is written)
TOUCH_AFTER = 24 * 3600  # a hit marks its entry used at most once a day: no write per read
PARTIAL_FOR = 3600  # a temporary file this old was left by a run that died while writing
GITIGNORE = "# Made by holistics-schedules: a cache, never committed.\n*\n"

# 2: an HMAC, not a checksum; 3: each entry's kind and its values from the environment (as written);
# 4: no field lines (read from the file itself when one is asked for: `yamlfast.FileLines`)
_MAGIC = b"holistics-schedules validated file, format 4\n"
_SUFFIX = ".entry"
_PARTIAL = ".partial"
_ENTRY_NAME = re.compile(r"^[0-9a-f]{64}\.entry$")
# what validation calls into, directly; their requirements are followed from the installed metadata
LIBRARIES = ("pydantic", "PyYAML", "yaml-rs", "email-validator", "cronsim")
_log = logging.getLogger(__name__)


def default() -> FileCache | None:
    """The cache the environment asks for: HOLISTICS_SCHEDULES_NO_CACHE=1 turns it off (as does
    `--no-cache`, which sets it), HOLISTICS_SCHEDULES_CACHE_DIR moves its entries (the key stays in
    the user's cache directory). None when it is off, when there is no home to keep it in, or when
    the code that validates cannot be fingerprinted."""
    if os.environ.get(NO_CACHE_ENV, "").strip() not in ("", "0"):
        return None
    if fingerprint() is None:
        return None
    try:
        home = user_cache_directory()
        return FileCache(Path(os.environ.get(CACHE_DIR_ENV) or home), home / KEY_FILE)
    except (OSError, RuntimeError):  # no home directory, or the working directory was deleted under us
        return None


def user_cache_directory() -> Path:
    """Where this tool keeps its cache for this user: `$XDG_CACHE_HOME/holistics-schedules` (an
    absolute XDG_CACHE_HOME only, as the XDG spec says), else `~/.cache/holistics-schedules`."""
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    return (Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache") / APP_DIRECTORY


@cache
def fingerprint() -> str | None:
    """The sha256 of everything besides a file itself that decides what reading it gives; computed
    once per process (under 10 ms). None when this package's files cannot be read."""
    try:
        return code_fingerprint(Path(reconciler.__file__).parent)
    except OSError as exc:
        _log.debug("no schedule cache: cannot fingerprint the package (%s)", exc)
        return None


def code_fingerprint(package: Path) -> str:
    """The fingerprint with the package's files read from `package`."""
    digest = hashlib.sha256()
    for part in _code_identity(package):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def _code_identity(package: Path) -> Iterator[bytes]:
    import yaml  # imported for reading already; which parser it has (libyaml or not) is part of it

    yield f"holistics-schedules {reconciler.__version__}".encode()
    yield f"{sys.implementation.cache_tag} {sys.version} {sys.platform}".encode()
    yield f"PyYAML {yaml.__version__} libyaml={yaml.__with_libyaml__}".encode()
    if not (package / "__init__.py").is_file():  # a zip or frozen build: no source to hash, no cache
        raise OSError(f"{package}: the package's source files are not on disk")
    for directory, subdirectories, names in os.walk(package):
        subdirectories[:] = sorted(d for d in subdirectories if d != "__pycache__")
        for name in sorted(names):
            if name.endswith((".py", ".json")):  # the code, and the data it reads (spec_subset.json)
                path = Path(directory) / name
                yield path.relative_to(package).as_posix().encode()
                yield path.read_bytes()
    for name, version, record in _distributions(LIBRARIES):
        yield f"{name} {version}".encode()
        yield record.encode()


def _distributions(roots: Sequence[str]) -> list[tuple[str, str, str]]:
    """(name, version, RECORD) of each library in `roots` and everything it requires, as installed.
    RECORD lists the sha256 of every file the distribution installed: a rebuild under the same
    version is another fingerprint too."""
    found: dict[str, tuple[str, str]] = {}
    todo = list(roots)
    while todo:
        name = re.sub(r"[-_.]+", "-", todo.pop()).lower()
        if name in found:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            found[name] = ("absent", "")
            continue
        found[name] = (dist.version, dist.read_text("RECORD") or "")
        for requirement in dist.requires or ():
            if re.search(r"\bextra\s*==", requirement):
                continue  # an optional extra: installed or not, the library does not call it unasked
            if match := re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement):
                todo.append(match.group())
    return [(name, found[name][0], found[name][1]) for name in sorted(found)]


class FileCache:
    """The entries in one directory. Reads and writes never raise: a problem is a miss, and a
    directory that cannot be written is not written to again by this instance."""

    def __init__(self, directory: Path, key_file: Path) -> None:
        self.directory = Path(os.path.abspath(directory))  # fixed now: a later chdir changes nothing
        self.key_file = Path(os.path.abspath(key_file))
        self._secret: bytes | None = None
        self._writable = True
        self._prepared = False

    def _mac_secret(self) -> bytes:
        """The secret entries are authenticated with, read (or made) once; b"" when there is none."""
        if self._secret is None:
            self._secret = machine_secret(self.key_file) or b""
        return self._secret

    def key(self, name: str, raw: bytes) -> str | None:
        """The entry's key: the file's name and bytes under the fingerprint of the code (None, no
        key at all, when the code cannot be fingerprinted)."""
        code = fingerprint()
        if code is None:
            return None
        digest = hashlib.sha256(_MAGIC)
        for part in (code.encode(), os.fsencode(name)):
            digest.update(len(part).to_bytes(8, "big"))
            digest.update(part)
        digest.update(raw)
        return digest.hexdigest()

    def path(self, key: str) -> Path:
        return self.directory / f"{key}{_SUFFIX}"

    def get(self, key: str, name: str, raw: bytes) -> list[DesiredEntry] | None:
        """The schedules stored under `key` for the file `name` (whose bytes are `raw`: its entries'
        lines are read from them when one is asked for), or None (a miss)."""
        path = self.path(key)
        try:
            blob, modified = _read_regular(path)
        except OSError:
            return None
        secret = self._mac_secret()
        schedules = decode_entry(blob, key, name, secret, raw) if secret else None
        if schedules is not None and time.time() - modified > TOUCH_AFTER:
            with contextlib.suppress(OSError):
                os.utime(path)  # still in use: not pruned
        return schedules

    def put(self, key: str, name: str, schedules: Sequence[DesiredEntry]) -> None:
        """Store what reading the file `name` gave, when it is data that JSON gives back exactly."""
        if not self._writable:
            return
        secret = self._mac_secret()
        blob = encode_entry(key, name, schedules, secret) if secret else None
        if blob is None:
            return
        path = self.path(key)
        try:
            self._prepare()
            if _occupied(path):  # a directory or FIFO where this entry belongs: this entry only is skipped
                _log.debug("schedule cache entry not written: %s is not a regular file", path)
                return
            _write_atomically(path, blob)
        except OSError as exc:
            self._writable = False
            _log.debug("schedule cache not written in %s: %s", self.directory, exc)

    def _prepare(self) -> None:
        """Once: the directory, its .gitignore, and deleting what is no longer used."""
        if self._prepared:
            return
        created = not os.path.isdir(self.directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        names = os.listdir(self.directory)
        # a .gitignore only where the directory is the cache's own: one moved by
        # HOLISTICS_SCHEDULES_CACHE_DIR onto a directory of other files must not hide them from git
        if created or (".gitignore" not in names and all(_ours(n) for n in names)):
            _write_atomically(self.directory / ".gitignore", GITIGNORE.encode())
        self._prune(names)
        self._prepared = True

    def _prune(self, names: list[str]) -> None:
        now = time.time()
        for name in names:
            if not _ours(name):
                continue
            path = self.directory / name
            age = UNUSED_FOR if name.endswith(_SUFFIX) else PARTIAL_FOR
            with contextlib.suppress(OSError):  # another run may have deleted or replaced it meanwhile
                if now - path.lstat().st_mtime > age:
                    path.unlink()


def _ours(name: str) -> bool:
    return _ENTRY_NAME.match(name) is not None or (name.startswith(".tmp-") and name.endswith(_PARTIAL))


def _occupied(path: Path) -> bool:
    """Whether something other than a regular file (or nothing) is at `path`."""
    try:
        return not stat.S_ISREG(path.lstat().st_mode)
    except FileNotFoundError:
        return False


def encode_entry(key: str, name: str, schedules: Sequence[DesiredEntry], secret: bytes) -> bytes | None:
    """The entry for these schedules; None when they hold anything JSON would not give back as it
    is (a tuple, an int subclass, a non-string key), so that a hit is always exactly a miss.

    The payload is a list of rows, `[key, id, fields, line, kind, env]`. The lines of the fields are
    not stored: they are read from the file when one is asked for, as a cold read does (a quarter
    fewer bytes, issue 22). An entry's values from the environment are stored as written (`${NAME}`), never
    resolved: reading a file never reads the environment."""
    rows = []
    for s in schedules:
        if not _exact(s, name):
            return None
        rows.append([s.key, s.id, s.fields, s.line, s.kind, s.env])
    try:
        payload = json.dumps(rows, separators=(",", ":"), allow_nan=False).encode("ascii")
    except ValueError:
        return None
    return b"".join((_MAGIC, key.encode(), b"\n", mac(secret, key, payload), b"\n", payload))


def decode_entry(blob: bytes, key: str, name: str, secret: bytes, raw: bytes = b"") -> list[DesiredEntry] | None:
    """The schedules an entry holds, or None when it is not a whole, intact entry for `key` made
    with `secret` (an entry whose HMAC does not check was not written here, or was damaged). Their
    lines are read from `raw`, the file's bytes, when one is asked for."""
    parts = blob.split(b"\n", 3)
    if len(parts) != 4 or parts[0] + b"\n" != _MAGIC or parts[1] != key.encode():
        return None
    payload = parts[3]
    if not hmac.compare_digest(mac(secret, key, payload), parts[2]):
        return None
    try:
        rows = json.loads(payload)
        if type(rows) is not list or not all(_row_shape(row) for row in rows):
            return None
    except (ValueError, TypeError, RecursionError):
        return None
    lines = FileLines(name, raw)
    return [
        DesiredEntry(entry, id_, fields, name, line, LinesLater(lines, kind, entry), kind, env)
        for entry, id_, fields, line, kind, env in rows
    ]


def _row_shape(row: Any) -> bool:
    """[key, id, fields, line, kind, env], each of the type a DesiredEntry read from YAML has."""
    if type(row) is not list or len(row) != 6:
        return False
    key, schedule_id, fields, line, kind, env = row
    return (
        type(kind) is str is type(key)
        and _str_to_str(env)
        and (schedule_id is None or type(schedule_id) is int)
        and type(fields) is dict
        and type(line) is int
    )


_SCALARS = (str, int, float, bool, type(None))


def _str_to_str(env: Any) -> bool:
    return type(env) is dict and all(type(k) is str and type(v) is str for k, v in env.items())


def _exact(schedule: DesiredEntry, name: str) -> bool:
    """Whether the schedule, written as JSON and read back, is `schedule` again, type for type and
    in order (and of the file `name`)."""
    s = schedule
    if not (
        type(s.key) is str
        and (s.id is None or type(s.id) is int)
        and type(s.fields) is dict
        and s.file == name
        and type(s.line) is int
        and type(s.kind) is str
        and _str_to_str(s.env)
        # what uses a variable is stored as written: an entry holding a resolved value is never stored
        and all(value_at(s.fields, path) == expression for path, expression in s.env.items())
    ):
        return False
    stack: list[Any] = [s.fields]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is dict:
            if any(type(k) is not str for k in item):  # JSON would turn 1: into "1":
                return False
            stack += item.values()
        elif kind is list:
            stack += item
        elif kind not in _SCALARS:  # a tuple would come back a list, a str subclass a str
            return False
    return True


def _read_regular(path: Path) -> tuple[bytes, float]:
    """The bytes and mtime of a regular file: a FIFO put where an entry belongs is not waited on."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags)
    try:
        status = os.fstat(fd)
        if not stat.S_ISREG(status.st_mode):
            raise OSError(f"{path}: not a regular file")
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks), status.st_mtime
    finally:
        os.close(fd)


def _write_atomically(path: Path, data: bytes) -> None:
    import tempfile  # only when writing: a run that only hits does not need it

    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=_PARTIAL)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
