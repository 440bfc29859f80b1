"""The cache of validated schedule files (reconciler.desired.filecache): a hit is exactly what a miss reads,
anything that could change the result is another key, and a broken entry is only ever a miss."""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import reconciler
from bench import workload
from reconciler.desired import cachesecret, filecache, yamlread
from reconciler.desired.filecache import FileCache
from reconciler.kinds.entries import DesiredEntry
from reconciler.problems import InvalidSchedules
from reconciler.sandbox import Sandbox
from reconciler.usecases.config import ProjectConfig
from reconciler.usecases.planning import load_desired
from tests.helpers import REPO, cli

FINGERPRINT = filecache.fingerprint
SECRET = b"0" * 64

GOOD = """\
schedules:
  weekly:
    id: 7
    source_type: Dashboard
    source_id: 1234
    schedule: {repeat: "0 8 * * 1"}
    dynamic_filter_presets:
      - dynamic_filter_id: 7
        preset_condition: {operator: between, values: [1, 2.5]}
      - dynamic_filter_id: region
        preset_condition: {operator: is, values: [true, "1", EMEA]}
    dest:
      type: EmailDest
      recipients: [sales@example.com]
      options: {include_header: true, attachment_formats: [pdf, csv]}
  sheet:
    source_type: QueryReport
    source_id: 5301
    schedule: {repeat: "0 6 * * *", paused: true}
    dest: {type: GsheetDest, sheet_url: "https://docs.google.com/x", sheet_title: Orders}
"""


def exact(value: Any) -> Any:
    """`value` with every type and every dict's order spelled out: equal only when identical."""
    if isinstance(value, dict):
        return ("dict", [(exact(k), exact(v)) for k, v in value.items()])
    if isinstance(value, list | tuple):
        return (type(value).__name__, [exact(v) for v in value])
    return (type(value).__name__, repr(value))


def as_read(schedules: list[DesiredEntry]) -> Any:
    """Everything a DesiredEntry holds (its equality leaves out the field lines)."""
    return exact(
        [
            [type(s).__name__, s.key, s.id, s.fields, s.file, s.line, dict(s.field_lines), s.kind, s.env]
            for s in schedules
        ]
    )


class Reads:
    """Counts the files that were really parsed and validated (a miss), not taken from the cache."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.names: list[str] = []
        real = yamlread._read_file

        def counted(name: str, raw: bytes) -> Any:
            self.names.append(name)
            return real(name, raw)

        monkeypatch.setattr(yamlread, "_read_file", counted)

    def take(self) -> list[str]:
        names, self.names = self.names, []
        return names


@pytest.fixture(autouse=True)
def _cache_on(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The cache on, whatever the environment running the tests says; the fingerprint computed
    afresh after a test that changed the version."""
    monkeypatch.setenv(filecache.NO_CACHE_ENV, "")
    yield
    FINGERPRINT.cache_clear()


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> Reads:
    return Reads(monkeypatch)


@pytest.fixture
def store(tmp_path: Path) -> FileCache:
    return FileCache(tmp_path / "cache", tmp_path / "key")


def entries(cache: FileCache) -> list[Path]:
    return sorted(cache.directory.glob("*.entry")) if cache.directory.is_dir() else []


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# ---- a hit is a miss ----


def test_a_hit_is_exactly_what_a_miss_reads_for_the_example_and_a_generated_workspace(
    tmp_path: Path, store: FileCache, reads: Reads
) -> None:
    shutil.copytree(REPO / "schedules", tmp_path / "example")
    workload.write_desired(
        workload.remote_schedules(300), tmp_path / "generated", update_every=7, creates=5, unmanaged_every=11
    )
    paths = [tmp_path / "example", tmp_path / "generated"]
    missed = yamlread.load(paths, cache=False)
    assert len(reads.take()) == 5
    cold = yamlread.load(paths, cache=store)
    assert len(reads.take()) == 5 and len(entries(store)) == 5
    warm = yamlread.load(paths, cache=store)
    assert reads.take() == []  # every file from the cache
    assert as_read(warm) == as_read(cold) == as_read(missed)


finite = st.floats(allow_nan=False, allow_infinity=False)
# printable text (YAML refuses control characters and lone surrogates), and strings that look like other types
text = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=8) | st.sampled_from(
    ["1", "1.0", "true", "null", "0x1F", "", " ", "é", "日本", "a: b", "- x", "#"]
)
scalars = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | finite | text
names = st.from_regex(r"[a-z][a-z0-9_]{0,4}", fullmatch=True)
anything = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(names, inner, max_size=3), max_leaves=6
)
condition_values = st.lists(st.booleans() | st.integers(-(2**40), 2**40) | finite | text, max_size=3)


@st.composite
def entries_of_every_kind(draw: st.DrawFn) -> dict[str, Any]:
    """Entries whose fields hold each kind of value the format can: bools beside ints beside floats
    beside numeric-looking strings, nested free-form Slack channels, unicode."""
    kind = draw(st.sampled_from(["EmailDest", "SlackDest", "SftpDest", "GsheetDest"]))
    dest: dict[str, Any] = {"type": kind}
    if kind == "EmailDest":
        dest["recipients"] = ["a@example.com"]
        if draw(st.booleans()):
            dest["options"] = {
                "body_text": draw(text),
                "selected_values": draw(st.lists(st.integers(0, 99) | text, max_size=3)),
            }
    elif kind == "SlackDest":
        dest["slack_channels"] = draw(st.lists(st.dictionaries(names, anything, max_size=3), max_size=3))
        dest["message"] = draw(text)
    elif kind == "SftpDest":
        dest |= {"data_source_id": draw(st.integers(1, 2**40)), "file_path": draw(text)}
        dest["dashboard_widget_id"] = draw(st.integers(0, 9) | text)
    else:
        dest |= {"sheet_url": draw(text), "sheet_title": draw(text)}
    entry: dict[str, Any] = {
        "source_type": "Dashboard",
        "source_id": draw(st.integers(1, 2**40)),
        "schedule": {"repeat": "0 8 * * 1", "paused": draw(st.booleans())},
        "dest": dest,
    }
    if draw(st.booleans()):
        entry["id"] = draw(st.integers(1, 2**62))
    if draw(st.booleans()):
        operator, values = draw(
            st.sampled_from(
                [("is", condition_values), ("between", st.lists(finite | st.integers(), min_size=2, max_size=2))]
            )
        )
        entry["dynamic_filter_presets"] = [
            {
                "dynamic_filter_id": draw(st.integers(1, 99) | text),
                "preset_condition": {"operator": operator, "values": draw(values)},
            }
        ]
    return entry


@st.composite
def schedule_files(draw: st.DrawFn) -> str:
    entries = draw(st.lists(entries_of_every_kind(), min_size=1, max_size=4))
    body = {"schedules": {f"e{i}": entry for i, entry in enumerate(entries)}}
    if draw(st.booleans()):  # JSON is YAML: one line, flow style
        return json.dumps(body, ensure_ascii=draw(st.booleans())) + "\n"
    return workload.render(body["schedules"])  # block style, as a person or `import` writes


@pytest.mark.slow
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=schedule_files())
def test_a_hit_is_exactly_a_miss_for_generated_files(text: str, reads: Reads) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = write(Path(tmp) / "f.yml", text)
        cache = FileCache(Path(tmp) / "cache", Path(tmp) / "key")
        try:
            missed = yamlread.load([path], cache=False)
        except InvalidSchedules as invalid:
            # a value the format refuses is never stored; a clash across entries (two with one id)
            # is checked on every load, stored or not: the same problems, cold and warm
            for _ in range(2):
                with pytest.raises(InvalidSchedules) as again:
                    yamlread.load([path], cache=cache)
                assert str(again.value.problems) == str(invalid.problems)
            _, own_problems = yamlread._load_file(path)
            assert len(entries(cache)) == (0 if own_problems else 1)
            return
        reads.take()
        yamlread.load([path], cache=cache)
        assert len(reads.take()) == 1
        warm = yamlread.load([path], cache=cache)
        assert reads.take() == [] and as_read(warm) == as_read(missed)


def test_a_value_json_would_change_is_not_stored(tmp_path: Path) -> None:
    """A tuple, a str subclass or an int key would come back as a list, a str, a string key: such a
    result is never stored, so a hit can never differ from a miss."""

    class Label(str):
        pass

    good = DesiredEntry("k", 1, {"a": [1, 2.0, True, None, "x"]}, "f.yml", 2, {"a": 3})
    assert filecache.encode_entry("0" * 64, "f.yml", [good], SECRET) is not None
    for fields in ({"a": (1, 2)}, {"a": Label("x")}, {1: "x"}, {"a": {"b": {2: 3}}}, {"a": float("nan")}):
        bad = DesiredEntry("k", 1, fields, "f.yml", 2, {})
        assert filecache.encode_entry("0" * 64, "f.yml", [bad], SECRET) is None, fields
    with pytest.raises(TypeError):  # a line that is not an int cannot even be held (models.LineMap)
        DesiredEntry("k", 1, {}, "f.yml", 2, {"a": 3.0})
    assert filecache.encode_entry("0" * 64, "other.yml", [good], SECRET) is None  # another file's schedules
    assert filecache.encode_entry("0" * 64, "f.yml", [DesiredEntry("k", True, {}, "f.yml", 2, {})], SECRET) is None


# ---- what makes another key ----


def test_a_changed_byte_or_another_name_is_a_miss(
    tmp_path: Path, store: FileCache, reads: Reads, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path / "a.yml", GOOD)
    yamlread.load([path], cache=store)
    assert reads.take() == [str(path)]
    write(path, GOOD.replace("0 6 * * *", "0 7 * * *"))
    (changed,) = [s for s in yamlread.load([path], cache=store) if s.key == "sheet"]
    assert reads.take() == [str(path)] and changed.fields["schedule"]["repeat"] == "0 7 * * *"

    renamed = path.rename(tmp_path / "b.yml")  # the same bytes under another name: the name is in every message
    loaded = yamlread.load([renamed], cache=store)
    assert reads.take() == [str(renamed)] and {s.file for s in loaded} == {str(renamed)}
    monkeypatch.chdir(tmp_path)
    spelled = yamlread.load([Path("b.yml")], cache=store)  # the same file spelled otherwise: shown as spelled
    assert reads.take() == ["b.yml"] and {s.file for s in spelled} == {"b.yml"}
    yamlread.load([renamed], cache=store)
    assert reads.take() == []


def test_another_tool_version_or_code_fingerprint_is_a_miss(
    tmp_path: Path, store: FileCache, reads: Reads, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path / "a.yml", GOOD)
    yamlread.load([path], cache=store)
    yamlread.load([path], cache=store)
    assert reads.take() == [str(path)]

    monkeypatch.setattr(reconciler, "__version__", "99.0.0")
    filecache.fingerprint.cache_clear()
    yamlread.load([path], cache=store)
    assert reads.take() == [str(path)]

    monkeypatch.setattr(filecache, "fingerprint", lambda: "another build of the validating code")
    yamlread.load([path], cache=store)
    yamlread.load([path], cache=store)
    assert reads.take() == [str(path)] and len(entries(store)) == 3


def test_the_fingerprint_covers_every_source_and_data_file_of_the_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "reconciler"
    shutil.copytree(Path(reconciler.__file__).parent, package, ignore=shutil.ignore_patterns("__pycache__"))
    first = filecache.code_fingerprint(package)
    assert filecache.code_fingerprint(package) == first == filecache.fingerprint()

    (package / "__pycache__").mkdir(exist_ok=True)
    (package / "__pycache__" / "models.cpython-311.pyc").write_bytes(b"compiled")  # compiling changes nothing
    assert filecache.code_fingerprint(package) == first

    def changed(name: str) -> str:
        path = package / name
        original = path.read_bytes()
        path.write_bytes(original.replace(b"e", b"f", 1))
        try:
            return filecache.code_fingerprint(package)
        finally:
            path.write_bytes(original)

    seen = {first}
    for name in (
        "kinds/schedules/models.py",
        "desired/yamlread.py",
        "problems.py",
        "spec_subset.json",
        "sandbox/validation.py",
    ):
        other = changed(name)
        assert other not in seen, name
        seen.add(other)
    (package / "newmodule.py").write_text("X = 1\n")
    assert filecache.code_fingerprint(package) not in seen

    libraries = filecache._distributions(filecache.LIBRARIES)
    bumped = [(n, "0.0.0" if n == "pydantic-core" else v, r) for n, v, r in libraries]
    monkeypatch.setattr(filecache, "_distributions", lambda roots: bumped)
    (package / "newmodule.py").unlink()
    assert filecache.code_fingerprint(package) not in seen


def test_without_the_package_source_on_disk_there_is_no_cache(
    tmp_path: Path, store: FileCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A zipped or frozen build has no files to fingerprint: it reads every file, and stores nothing."""
    with pytest.raises(OSError, match="not on disk"):
        filecache.code_fingerprint(tmp_path / "reconciler.zip")
    monkeypatch.setattr(filecache, "fingerprint", lambda: None)
    assert filecache.default() is None
    path = write(tmp_path / "a.yml", GOOD)
    assert len(yamlread.load([path], cache=store)) == 2 and entries(store) == []


def test_the_fingerprint_names_every_library_validation_imports() -> None:
    """Each third-party module the reading and validating code imports is, through its
    distribution, in the fingerprint with its version and RECORD: pydantic-core under pydantic,
    idna under email-validator..."""
    covered = {name: (version, record) for name, version, record in filecache._distributions(filecache.LIBRARIES)}
    assert {"pydantic", "pydantic-core", "pyyaml", "email-validator", "idna", "cronsim", "typing-extensions"} <= set(
        covered
    )
    for name, (version, record) in covered.items():
        if version != "absent":
            assert version == metadata.version(name) and "RECORD" in record, name
    owners = metadata.packages_distributions()
    for module in (
        "kinds/schedules/models",
        "kinds/schedules/__init__",
        "kinds/entries",
        "desired/yamlread",
        "desired/yamlnodes",
        "desired/yamlentries",
        "desired/validation_messages",
        "spec",
        "desired/filecache",
    ):
        tree = ast.parse((REPO / "reconciler" / f"{module}.py").read_text())
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for top in {n.split(".")[0] for n in names} - {"reconciler"}:  # its own files are hashed
                for dist in owners.get(top, []):
                    assert dist.lower().replace("_", "-") in covered, f"{module}.py imports {top} ({dist})"


def test_a_key_is_every_part_of_what_decides_the_reading() -> None:
    store = FileCache(Path("unused"), Path("unused-key"))
    base = store.key("a.yml", b"schedules: {}\n")
    assert len(base) == 64 and int(base, 16) >= 0
    assert store.key("a.yml", b"schedules: {}\n") == base
    assert store.key("b.yml", b"schedules: {}\n") != base
    assert store.key("a.yml", b"schedules: {} \n") != base
    assert store.key("a.ym", b"lschedules: {}\n") != base  # name and bytes cannot trade places


# ---- broken entries are misses, and are written anew ----


def corruptions(blob: bytes) -> dict[str, bytes]:
    head, payload = blob.rsplit(b"\n", 1)[0], blob.split(b"\n", 3)[3]
    forged_rows = json.dumps({"not": "rows"}).encode()
    forged = blob.split(b"\n", 1)[0] + b"\n" + blob.split(b"\n", 2)[1] + b"\n"
    forged += hashlib.sha256(forged_rows).hexdigest().encode() + b"\n" + forged_rows
    return {
        "empty": b"",
        "truncated": blob[: len(blob) // 2],
        "one byte less": blob[:-1],
        "a flipped byte": blob[:-5] + bytes([blob[-5] ^ 1]) + blob[-4:],
        "header only": head,
        "payload only": payload,
        "another format": blob.replace(b"format 4", b"format 5", 1),
        "not rows, checksum right": forged,
        "binary junk": os.urandom(300),
        "a pickle": b"\x80\x04\x95" + os.urandom(40),
    }


@pytest.mark.parametrize("damage", list(corruptions(b"x\ny\nz\nw")))
def test_a_damaged_entry_is_a_miss_and_is_written_anew(
    damage: str, tmp_path: Path, store: FileCache, reads: Reads
) -> None:
    path = write(tmp_path / "a.yml", GOOD)
    reference = as_read(yamlread.load([path], cache=False))
    yamlread.load([path], cache=store)
    (entry,) = entries(store)
    good = entry.read_bytes()
    entry.write_bytes(corruptions(good)[damage])
    reads.take()
    assert as_read(yamlread.load([path], cache=store)) == reference
    assert reads.take() == [str(path)] and entry.read_bytes() == good
    assert as_read(yamlread.load([path], cache=store)) == reference and reads.take() == []


def test_an_entry_moved_under_another_key_is_a_miss(tmp_path: Path, store: FileCache, reads: Reads) -> None:
    """Each entry repeats its key: one file's entry copied to where another's belongs is foreign."""
    a, b = write(tmp_path / "a.yml", GOOD), write(tmp_path / "b.yml", GOOD.replace("weekly", "monthly"))
    yamlread.load([a], cache=store)
    (entry_a,) = entries(store)
    key_b = store.key(str(b), b.read_bytes())
    shutil.copy(entry_a, store.path(key_b))
    reads.take()
    loaded = yamlread.load([b], cache=store)
    assert reads.take() == [str(b)] and {s.key for s in loaded} == {"monthly", "sheet"}
    secret = cachesecret.machine_secret(store.key_file)
    assert secret is not None
    assert filecache.decode_entry(store.path(key_b).read_bytes(), key_b, str(b), secret) is not None


def test_something_else_where_an_entry_belongs_is_a_miss_and_no_error(tmp_path: Path, store: FileCache) -> None:
    path = write(tmp_path / "a.yml", GOOD)
    key = store.key(str(path), path.read_bytes())
    store.directory.mkdir()
    store.path(key).mkdir()  # a directory: cannot be read, and cannot be replaced
    assert len(yamlread.load([path], cache=store)) == 2
    os.rmdir(store.path(key))
    os.mkfifo(store.path(key))  # a FIFO: reading it would wait forever
    assert len(yamlread.load([path], cache=store)) == 2


# ---- what is never stored, and what runs on every load ----


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("schedules:\n  a: [unclosed\n", id="YAML syntax"),
        pytest.param(GOOD.replace("sales@example.com", "not-an-address"), id="an invalid value"),
        pytest.param(GOOD + "extra: 1\n", id="an unknown top-level key"),
        pytest.param("\xff", id="not UTF-8"),
    ],
)
def test_a_file_with_problems_is_never_stored_and_reports_them_every_time(
    text: str, tmp_path: Path, store: FileCache, reads: Reads
) -> None:
    path = tmp_path / "bad.yml"
    path.write_bytes(text.encode("latin-1") if text == "\xff" else text.encode())
    write(
        tmp_path / "good.yml",
        GOOD.replace("weekly", "other").replace("  sheet:", "  other-sheet:").replace("id: 7", "id: 8"),
    )
    problems = []
    for _ in range(2):
        with pytest.raises(InvalidSchedules) as invalid:
            yamlread.load([tmp_path], cache=store)
        problems.append(str(invalid.value.problems))
        assert str(path) in problems[-1]
        assert reads.take()[:1] == [str(path)]  # read anew each time
    assert problems[0] == problems[1]
    assert len(entries(store)) == 1  # only the good file's


def test_checks_across_files_the_scope_and_the_ignore_rules_run_on_a_warm_cache(
    tmp_path: Path, reads: Reads, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(filecache.CACHE_DIR_ENV, str(tmp_path / "cache"))
    write(tmp_path / "schedules" / "a.yml", GOOD)
    write(tmp_path / "schedules" / "b.yml", GOOD.replace("  sheet:", "  sheet-2:"))  # `weekly` and id 7 again
    for _ in range(2):
        with pytest.raises(InvalidSchedules) as invalid:
            yamlread.load([Path("schedules")])
        assert [p.message for p in invalid.value.problems] == [
            "duplicate key: also defined at schedules/a.yml:2",
            "id 7 is already claimed by 'weekly' (schedules/a.yml:3)",
        ]
    assert reads.take() == ["schedules/a.yml", "schedules/b.yml"]  # the second load: from the cache

    (tmp_path / "schedules" / "b.yml").unlink()
    scoped = ProjectConfig.model_validate(
        {"scope": {"dashboards": [1234]}, "ignore": {"schedules": {"gone": ["title"]}}}
    )
    for _ in range(2):
        with pytest.raises(InvalidSchedules) as invalid:
            load_desired(scoped, [])
        assert [p.path for p in invalid.value.problems] == ["ignore.schedules.gone"]
    in_scope = ProjectConfig.model_validate({"scope": {"dashboards": [1234]}})
    for _ in range(2):
        with pytest.raises(InvalidSchedules) as invalid:
            load_desired(in_scope, [])
        assert [p.path for p in invalid.value.problems] == ["sheet"]  # a QueryReport: outside the scope
    assert reads.take() == []


# ---- where it lives, and when it is not written ----


def test_by_default_it_is_in_the_users_cache_directory_not_the_checkout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where pip and pre-commit keep theirs: $XDG_CACHE_HOME (when absolute), else ~/.cache."""
    (tmp_path / "project").mkdir()
    monkeypatch.chdir(tmp_path / "project")
    monkeypatch.delenv(filecache.CACHE_DIR_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    write(Path("schedules") / "a.yml", GOOD)
    yamlread.load([Path("schedules")])
    home = tmp_path / "xdg" / "holistics-schedules"
    assert len(list(home.glob("*.entry"))) == 1
    assert (home / "key").stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in Path.cwd().rglob("*")) == ["a.yml", "schedules"]
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/xdg")  # not absolute: ignored, as the XDG spec says
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    yamlread.load([Path("schedules")])
    assert len(list((tmp_path / "home" / ".cache" / "holistics-schedules").glob("*.entry"))) == 1
    assert not Path("relative").exists()


def test_the_environment_moves_it_or_turns_it_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "schedules" / "a.yml", GOOD)
    monkeypatch.setenv(filecache.CACHE_DIR_ENV, "elsewhere/cache")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    yamlread.load([Path("schedules")])
    assert len(list((tmp_path / "elsewhere" / "cache").glob("*.entry"))) == 1
    assert [p.name for p in (tmp_path / "xdg" / "holistics-schedules").iterdir()] == ["key"]  # the key stays home
    for off in ("1", "true", "yes"):
        monkeypatch.setenv(filecache.NO_CACHE_ENV, off)
        assert filecache.default() is None
    for on in ("", "0"):
        monkeypatch.setenv(filecache.NO_CACHE_ENV, on)
        assert filecache.default() is not None


def test_a_directory_moved_onto_other_files_gets_no_gitignore(tmp_path: Path) -> None:
    """`HOLISTICS_SCHEDULES_CACHE_DIR=.` must not write `*` into a project's own .gitignore."""
    project = tmp_path / "project"
    path = write(project / "a.yml", GOOD)
    yamlread.load([path], cache=FileCache(project, tmp_path / "key"))
    assert len(list(project.glob("*.entry"))) == 1 and not (project / ".gitignore").exists()


def test_an_unwritable_location_reads_without_a_cache_and_says_nothing(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    blocker = write(tmp_path / "a-file", "not a directory")
    path = write(tmp_path / "a.yml", GOOD)
    for directory in (blocker / "cache", blocker):
        store = FileCache(directory, tmp_path / "key")
        assert len(yamlread.load([path], cache=store)) == 2
        assert len(yamlread.load([path], cache=store)) == 2
    assert capfd.readouterr() == ("", "")


def test_a_failed_write_leaves_no_entry_and_no_temporary_file(
    tmp_path: Path, store: FileCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path / "a.yml", GOOD)

    def refuse(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(filecache.os, "replace", refuse)
    assert len(yamlread.load([path], cache=store)) == 2
    assert [p.name for p in store.directory.iterdir()] == []  # not even the .gitignore: it is replaced into place too


def test_entries_unread_for_a_week_are_deleted_when_one_is_written(tmp_path: Path, store: FileCache) -> None:
    used, unused = write(tmp_path / "used.yml", GOOD), write(tmp_path / "unused.yml", GOOD.replace("weekly", "w"))
    yamlread.load([used], cache=store)
    yamlread.load([unused], cache=store)
    used_entry = store.path(store.key(str(used), used.read_bytes()))
    unused_entry = store.path(store.key(str(unused), unused.read_bytes()))
    partial = store.directory / ".tmp-dead.partial"
    partial.write_bytes(b"half an ent")
    stranger = store.directory / "notes.txt"
    stranger.write_text("someone else's")
    week_ago = time.time() - filecache.UNUSED_FOR - 60
    for path in (used_entry, unused_entry, partial, stranger):
        os.utime(path, (week_ago, week_ago))

    yamlread.load(
        [used], cache=FileCache(store.directory, store.key_file)
    )  # a hit: marks the entry used, deletes nothing
    assert used_entry.stat().st_mtime > week_ago + 3600 and unused_entry.exists()
    new = write(tmp_path / "new.yml", GOOD.replace("weekly", "n"))
    yamlread.load([new], cache=FileCache(store.directory, store.key_file))  # a write: prunes
    assert used_entry.exists() and not unused_entry.exists() and not partial.exists()
    assert stranger.exists()  # only what the cache made is ever deleted
    assert len(entries(store)) == 2


# ---- the command line ----


def user_cache(project: Path) -> Path:
    """The user's cache directory of the commands `run_cli` runs in `project`: beside it, not in it."""
    return project.parent / f"{project.name}.xdg" / "holistics-schedules"


def run_cli(*args: str, cwd: Path, sb: Sandbox | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    """The real command, its clock fixed so that next runs in a plan do not move, its user cache beside `cwd`."""
    return cli(sb, *args, cwd=cwd, fixed_clock=True, env={"XDG_CACHE_HOME": str(user_cache(cwd).parent), **env})


def snapshot(directory: Path) -> dict[str, tuple[int, int]]:
    """Each entry and its inode and mtime: a rewrite (os.replace) changes both."""
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in directory.glob("*.entry")}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    shutil.copytree(REPO / "schedules", tmp_path / "schedules")
    return tmp_path


@pytest.mark.slow
def test_plan_prints_the_same_bytes_cold_warm_and_without_the_cache(project: Path, example_sandbox: Sandbox) -> None:
    cache = user_cache(project)
    cold = run_cli("plan", cwd=project, sb=example_sandbox)
    assert cold.returncode == 0, cold.stderr
    assert "Plan: 5 to create, 3 to update, 0 to delete." in cold.stdout
    written = snapshot(cache)
    assert len(written) == 4  # one entry per file, alerts.yml included
    warm = run_cli("plan", cwd=project, sb=example_sandbox)
    assert snapshot(cache) == written  # read, not rewritten: all four were hits
    uncached = run_cli("plan", "--no-cache", cwd=project, sb=example_sandbox)
    for other in (warm, uncached):
        assert (other.returncode, other.stdout, other.stderr) == (cold.returncode, cold.stdout, cold.stderr)
    as_json = run_cli("plan", "--json", cwd=project, sb=example_sandbox).stdout
    assert as_json == run_cli("--no-cache", "plan", "--json", cwd=project, sb=example_sandbox).stdout != ""


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "env"),
    [
        pytest.param(("validate", "--no-cache"), {}, id="validate --no-cache"),
        pytest.param(("--no-cache", "validate"), {}, id="--no-cache validate"),
        pytest.param(("validate",), {"HOLISTICS_SCHEDULES_NO_CACHE": "1"}, id="HOLISTICS_SCHEDULES_NO_CACHE=1"),
    ],
)
def test_no_cache_writes_nothing(args: tuple[str, ...], env: dict[str, str], project: Path) -> None:
    done = run_cli(*args, cwd=project, **env)
    assert done.returncode == 0 and "OK: 15 schedule(s) and 3 alert(s) in 4 file(s) are valid." in done.stdout, (
        done.stderr
    )
    assert not user_cache(project).exists()
    assert run_cli("validate", cwd=project).stdout == done.stdout
    assert len(list(user_cache(project).glob("*.entry"))) == 4


@pytest.mark.slow
def test_validate_in_a_read_only_place_works_quietly(project: Path) -> None:
    write(user_cache(project).parent, "a file where the user's cache directory would go")
    done = run_cli("validate", cwd=project)
    assert (done.returncode, done.stderr) == (0, "") and "OK: 15 schedule(s)" in done.stdout


def test_the_documented_actions_cache_step_keeps_the_directory_the_tool_writes() -> None:
    from ruamel.yaml import YAML

    docs = (REPO / "docs" / "github-actions.md").read_text()
    section = docs[docs.index("## Caching validated files") :]
    (block,) = re.findall(r"^```yaml\n(.*?)^```$", section.split("\n## ")[0], flags=re.M | re.S)
    (step,) = YAML(typ="safe").load(block)
    assert step["uses"].startswith("actions/cache@")
    assert step["with"]["path"] == "~/.cache/holistics-schedules"  # user_cache_directory() without XDG_CACHE_HOME
    assert Path(step["with"]["path"]).name == filecache.APP_DIRECTORY
    assert step["with"]["key"].startswith(step["with"]["restore-keys"])


@pytest.mark.slow
def test_apply_never_reads_the_cache_so_a_forged_entry_cannot_reach_the_workspace(
    project: Path, example_sandbox: Sandbox
) -> None:
    """An entry written on purpose, checksum and all (what a poisoned CI cache could hold): plan
    shows it, which is the documented limit of a cache; apply parses the YAML itself."""
    assert run_cli("validate", cwd=project).returncode == 0
    cache = FileCache(user_cache(project), user_cache(project) / filecache.KEY_FILE)
    forged_any = False
    for file in sorted((project / "schedules").glob("*.yml")):
        name = str(file.relative_to(project))
        key = cache.key(name, file.read_bytes())
        assert key is not None
        schedules = cache.get(key, name, file.read_bytes())
        assert schedules is not None, f"{name} was cached by validate"
        # only the title lies: the kind, id and lines stay what the file says (an alert stays an alert)
        forged = [dataclasses.replace(s, fields={**s.fields, "title": "FORGED"}) for s in schedules]
        cache.put(key, name, forged)
        forged_any = True
    assert forged_any
    assert "FORGED" in run_cli("plan", "--json", cwd=project, sb=example_sandbox).stdout, "the entries are read"
    applied = run_cli("apply", "--auto-approve", cwd=project, sb=example_sandbox)
    assert applied.returncode == 0, applied.stderr
    assert "FORGED" not in applied.stdout
    assert all(s.get("title") != "FORGED" for s in example_sandbox.control.schedules())
    assert all(a.get("title") != "FORGED" for a in example_sandbox.control.alerts())
    sent = [r for r in example_sandbox.control.requests() if r["method"] in ("POST", "PUT")]
    assert sent, "apply had changes to make"


# ---- only what this machine's validation wrote is ever used ----


def forged_entries(store: FileCache, path: Path, secret: bytes | None) -> bytes:
    """An entry for `path` saying what its YAML does not (a recipient it never names): signed with
    `secret`, or with None carrying the sha256 checksum of format 1, recomputed."""
    name = str(path)
    key = store.key(name, path.read_bytes())
    assert key is not None
    (weekly, *rest) = yamlread.load([path], cache=False)
    fields = {**weekly.fields, "dest": {**weekly.fields["dest"], "recipients": ["attacker@example.com"]}}
    forged = [DesiredEntry(weekly.key, weekly.id, fields, name, weekly.line, weekly.field_lines), *rest]
    blob = filecache.encode_entry(key, name, forged, secret or b"x" * 64)
    assert blob is not None
    if secret is None:
        magic, key_line, _, payload = blob.split(b"\n", 3)
        blob = b"\n".join([magic, key_line, hashlib.sha256(payload).hexdigest().encode(), payload])
    return blob


def recipients(schedules: list[DesiredEntry]) -> list[Any]:
    return [s.fields["dest"].get("recipients") for s in schedules]


@pytest.mark.parametrize("how", ["checksum recomputed", "another machine's key"])
def test_an_entry_this_machine_did_not_write_is_a_miss(
    how: str, tmp_path: Path, store: FileCache, reads: Reads
) -> None:
    path = write(tmp_path / "a.yml", GOOD)
    honest = as_read(yamlread.load([path], cache=False))
    other_secret = cachesecret.machine_secret(tmp_path / "other-machine" / "key")
    assert other_secret is not None and other_secret != cachesecret.machine_secret(store.key_file)
    blob = forged_entries(store, path, None if how == "checksum recomputed" else other_secret)
    key = store.key(str(path), path.read_bytes())
    assert key is not None
    if how == "another machine's key":  # a good entry there: only the key tells it apart
        assert recipients(filecache.decode_entry(blob, key, str(path), other_secret) or [])[0] == [
            "attacker@example.com"
        ]
    store.directory.mkdir(parents=True)
    store.path(key).write_bytes(blob)
    reads.take()
    assert as_read(yamlread.load([path], cache=store)) == honest
    assert reads.take() == [str(path)]  # read and validated, not taken from the entry
    assert as_read(yamlread.load([path], cache=store)) == honest and reads.take() == []  # written anew, by us


def test_an_entry_copied_from_another_cache_is_a_miss(tmp_path: Path, reads: Reads) -> None:
    path = write(tmp_path / "a.yml", GOOD)
    theirs = FileCache(tmp_path / "theirs", tmp_path / "their-home" / "key")
    ours = FileCache(tmp_path / "ours", tmp_path / "our-home" / "key")
    yamlread.load([path], cache=theirs)
    (entry,) = entries(theirs)
    ours.directory.mkdir()
    shutil.copy(entry, ours.directory / entry.name)
    reads.take()
    yamlread.load([path], cache=ours)
    assert reads.take() == [str(path)]
    assert (ours.directory / entry.name).read_bytes() != entry.read_bytes()  # rewritten under our key


@pytest.mark.slow
def test_an_entry_committed_into_the_checkout_changes_no_plan(project: Path, example_sandbox: Sandbox) -> None:
    """The attack of issue 18: an entry for the PR's YAML, committed with `git add -f`. By default the
    cache is not in the checkout at all; pointed there (HOLISTICS_SCHEDULES_CACHE_DIR), a committed
    entry is still not this machine's, so the plan is the one the YAML says."""
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], cwd=project, check=True)
    planted = project / ".cache" / "holistics-schedules"
    attacker = FileCache(planted, project.parent / "attacker" / "key")
    attacker_secret = cachesecret.machine_secret(attacker.key_file)
    assert attacker_secret is not None
    for file in sorted((project / "schedules").glob("*.yml")):
        relative = file.relative_to(project)
        key = attacker.key(str(relative), file.read_bytes())
        schedules = yamlread.load([file], cache=False)
        assert key is not None and schedules
        forged = [dataclasses.replace(s, fields={**s.fields, "title": "FORGED"}, file=str(relative)) for s in schedules]
        blob = filecache.encode_entry(key, str(relative), forged, attacker_secret)
        assert blob is not None
        write(attacker.path(key), "")
        attacker.path(key).write_bytes(blob)
    subprocess.run([*git, "add", "-f", "."], cwd=project, check=True)
    subprocess.run([*git, "commit", "-qm", "poisoned"], cwd=project, check=True)
    honest = run_cli("plan", "--json", "--no-cache", cwd=project, sb=example_sandbox)
    assert honest.returncode == 0 and "FORGED" not in honest.stdout
    for env in ({}, {filecache.CACHE_DIR_ENV: str(planted)}):
        assert run_cli("plan", "--json", cwd=project, sb=example_sandbox, **env).stdout == honest.stdout, env


@pytest.mark.slow
def test_plan_and_apply_write_nothing_into_the_checkout_but_the_ids(project: Path, example_sandbox: Sandbox) -> None:
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], cwd=project, check=True)
    subprocess.run([*git, "add", "."], cwd=project, check=True)
    subprocess.run([*git, "commit", "-qm", "schedules"], cwd=project, check=True)
    assert run_cli("plan", cwd=project, sb=example_sandbox).returncode == 0
    applied = run_cli("apply", "--auto-approve", cwd=project, sb=example_sandbox)
    assert applied.returncode == 0, applied.stderr
    status = subprocess.run(
        ["git", "status", "--porcelain", "--ignored", "--untracked-files=all"],
        cwd=project,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert status and all(re.fullmatch(r" M schedules/[^/]+\.ya?ml", line) for line in status), status
    assert len(list(user_cache(project).glob("*.entry"))) == 4


def test_a_directory_where_one_entry_belongs_costs_that_entry_only(
    tmp_path: Path, store: FileCache, reads: Reads
) -> None:
    a = write(tmp_path / "a.yml", GOOD)
    b = write(
        tmp_path / "b.yml", GOOD.replace("weekly", "other").replace("id: 7", "id: 8").replace("  sheet:", "  s2:")
    )
    key_a = store.key(str(a), a.read_bytes())
    assert key_a is not None
    store.path(key_a).mkdir(parents=True)
    yamlread.load([a, b], cache=store)
    written = [p.name for p in entries(store) if p.is_file()]
    assert written == [store.path(store.key(str(b), b.read_bytes()) or "").name]
    reads.take()
    yamlread.load([a, b], cache=store)
    assert reads.take() == [str(a)]  # b was a hit


def test_the_key_is_made_once_private_and_a_damaged_one_is_made_anew(tmp_path: Path, reads: Reads) -> None:
    key_file = tmp_path / "home" / "key"
    path = write(tmp_path / "a.yml", GOOD)
    yamlread.load([path], cache=FileCache(tmp_path / "cache", key_file))
    first = key_file.read_bytes()
    assert key_file.stat().st_mode & 0o777 == 0o600 and re.fullmatch(rb"[0-9a-f]{64}\n", first)
    reads.take()
    yamlread.load([path], cache=FileCache(tmp_path / "cache", key_file))
    assert reads.take() == [] and key_file.read_bytes() == first  # kept, and the entry a hit
    for damage in (b"", first[:10], b"z" * 64):
        key_file.write_bytes(damage)
        yamlread.load([path], cache=FileCache(tmp_path / "cache", key_file))
        assert reads.take() == [str(path)] and re.fullmatch(rb"[0-9a-f]{64}\n", key_file.read_bytes())
    made = key_file.read_bytes()
    key_file.chmod(0o644)  # readable by others: no secret, made anew
    yamlread.load([path], cache=FileCache(tmp_path / "cache", key_file))
    assert reads.take() == [str(path)] and key_file.read_bytes() != made
