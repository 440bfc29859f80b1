"""`import` writes YAML that reads as if a person wrote it (issue 12): no nulls and no defaults, the
editor's schema line, each entry under its source's title; and `import ID...` takes just those.

Every end-to-end test runs the real CLI against the real sandbox, as a spec-shaped API and as a
server-like one (extra read-only fields on every schedule).
"""

from __future__ import annotations

import copy
import json
import re
import shutil
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import jsonschema
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from reconciler.core.compare import differences, is_content
from reconciler.core.matching import adoptable
from reconciler.desired import yamlentries, yamlread
from reconciler.kinds import Kind
from reconciler.kinds.schedules import SCHEDULES
from reconciler.kinds.schedules.models import DataScheduleSpec
from reconciler.remote.client import NotFound
from reconciler.remote.reads import Source
from reconciler.sandbox import Sandbox
from reconciler.sandbox.records import stored_form as server_normalize
from reconciler.usecases import import_entries, importing
from reconciler.views import imported_yaml
from tests.helpers import REPO, cli, writes

SEED = json.loads((REPO / "reconciler" / "sandbox" / "example.json").read_text())
TITLES = {("Dashboard", d["id"]): d["title"] for d in SEED["dashboards"]} | {
    ("QueryReport", r["id"]): r["title"] for r in SEED["query_reports"]
}
EXAMPLE: list[dict[str, Any]] = SEED["data_schedules"]
SCHEMA_LINE = (REPO / "schedules" / "sales.yml").read_text().splitlines()[0]


@pytest.fixture(params=[False, True], ids=["plain", "server-like"])
def example(request: pytest.FixtureRequest) -> Iterator[Sandbox]:
    with Sandbox(seed="example", server_like=request.param) as sb:
        yield sb


def entries_of(directory: Path, kind: str = "schedules") -> dict[str, dict[str, Any]]:
    """key -> the entry's data exactly as written (before the model fills anything in), of `kind`."""
    out: dict[str, dict[str, Any]] = {}
    for path in sorted(directory.glob("*.yml")):
        for entry in yamlentries.parse(str(path), path.read_text()).entries:
            assert entry.key is not None and entry.data is not None, entry.problems
            if entry.kind == kind:
                out[entry.key] = entry.data
    return out


def leaves(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted path, value) of every value, containers included; list items as `path[]`."""
    yield path, value
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from leaves(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for item in value:
            yield from leaves(item, f"{path}[]")


def scalars(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    """(path, value) of every value that is not a mapping, nor a list of mappings."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from scalars(item, (*path, key))
    elif isinstance(value, list) and any(isinstance(item, Mapping) for item in value):
        for i, item in enumerate(value):
            yield from scalars(item, (*path, i))
    else:
        yield path, value


def strip_ids(directory: Path) -> dict[str, int]:
    """Remove every entry's `id:` line; returns key -> the id it held."""
    held: dict[str, int] = {}
    for path in directory.glob("*.yml"):
        text = path.read_text()
        held |= {k: int(i) for k, i in re.findall(r"(?m)^  ([a-z0-9-]+):\n    id: (\d+)\n", text)}
        path.write_text(re.sub(r"(?m)^    id: \d+\n", "", text))
    return held


# ---- no nulls, no defaults, and the next plan is clean ----


def test_import_writes_no_nulls_or_defaults_and_the_next_plan_is_clean_also_by_content(
    example: Sandbox, tmp_path: Path
) -> None:
    remote = {s["id"]: s for s in example.control.schedules()}
    alerts = {a["id"]: a for a in example.control.alerts()}
    result = cli(example, "import", cwd=tmp_path)  # into schedules/, the default
    assert result.returncode == 0, result.stderr
    written = entries_of(tmp_path / "schedules")
    assert sorted(e["id"] for e in written.values()) == sorted(remote)
    written_alerts = entries_of(tmp_path / "schedules", "alerts")  # beside the schedules, ids of their own
    assert alerts and sorted(e["id"] for e in written_alerts.values()) == sorted(alerts)
    for data in written_alerts.values():
        assert type(data["source_id"]) is type(alerts[data["id"]]["source_id"]), "a source id keeps its type"
        assert all("id" not in c for c in data.get("viz_conditions", [])), "condition ids are the server's"
    text = "".join(p.read_text() for p in (tmp_path / "schedules").glob("*.yml"))
    assert "{}" not in text and "dynamic_filter_presets: []" not in text and not re.search(r": (null|~)$", text, re.M)
    for key, data in written.items():
        for path, value in leaves(data):
            assert value is not None, (key, path)  # ruamel writes a null as nothing: `body_text:`
            assert value != {}, (key, path)
            assert not (path.endswith(".public_hidden") and value is False), (key, path)  # the spec's default
        assert data["schedule"].get("paused", True) is True, key  # the format's default, managed when left out
        assert data.get("dynamic_filter_presets", [None]) != [], key
    # kept: everything that is content or no documented default, e.g. a pause and the options' booleans
    for data in written.values():
        have = remote[data["id"]]
        assert data["schedule"].get("paused", False) == have["schedule"]["paused"]
        for name, value in (have["dest"].get("options") or {}).items():
            if isinstance(value, bool) or (value not in (None, [], "")):
                assert data["dest"]["options"][name] == value, (data["id"], name)
        assert len(data.get("dynamic_filter_presets", [])) == len(have["dynamic_filter_presets"])
    paused = {i for i, s in remote.items() if s["schedule"]["paused"]}
    assert paused and {d["id"] for d in written.values() if d["schedule"].get("paused")} == paused

    plan = cli(example, "plan", "--detailed-exitcode", cwd=tmp_path)
    assert plan.returncode == 0 and "No changes" in plan.stdout, plan.stdout + plan.stderr

    # adoption by content: without their ids, the entries still find exactly their schedules
    held = strip_ids(tmp_path / "schedules")
    assert len(held) == len(remote) + len(alerts)
    by_content = cli(example, "plan", "--json", "--detailed-exitcode", cwd=tmp_path)
    assert by_content.returncode == 0, by_content.stdout + by_content.stderr
    summary = json.loads(by_content.stdout)["summary"]
    unchanged = len(remote) + len(alerts)
    assert summary == {**summary, "create": 0, "update": 0, "unchanged": unchanged, "unmanaged": 0}
    example.control.clear_requests()
    applied = cli(example, "apply", "--auto-approve", cwd=tmp_path)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert writes(example) == []  # adopted, nothing sent
    assert {k: d.id for k, d in ((d.key, d) for d in yamlread.load([tmp_path / "schedules"]))} == held


# ---- the schema line, and each entry's source ----


def test_each_file_starts_with_the_projects_schema_line_and_the_files_satisfy_that_schema(
    example: Sandbox, tmp_path: Path
) -> None:
    shutil.copy(REPO / "schedules.schema.json", tmp_path / "schedules.schema.json")
    result = cli(example, "import", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "holistics-schedules schema >" not in result.stdout  # the schema is there: no hint
    schema = json.loads((tmp_path / "schedules.schema.json").read_text())
    files = sorted((tmp_path / "schedules").glob("*.yml"))
    for path in files:
        first = path.read_text().splitlines()[0]
        assert first == SCHEMA_LINE == "# yaml-language-server: $schema=../schedules.schema.json"
        jsonschema.validate(YAML(typ="safe").load(path.read_text()), schema)  # what the editor checks

    deeper = cli(example, "import", "--out", "teams/sales", cwd=tmp_path)
    assert deeper.returncode == 0, deeper.stderr
    for path in (tmp_path / "teams" / "sales").glob("*.yml"):
        reference = path.read_text().splitlines()[0].removeprefix("# yaml-language-server: $schema=")
        assert reference == "../../schedules.schema.json"
        assert (path.parent / reference).resolve() == (tmp_path / "schedules.schema.json").resolve()


def test_the_schema_reference_stays_one_token_whatever_the_directory_names(tmp_path: Path) -> None:
    """A space or a line break in a directory name is percent-encoded: the modeline stays one line
    and one token, and still names the schema file."""
    root = tmp_path / "my repo\nx"
    root.mkdir()
    out = tmp_path / "else where"
    reference = imported_yaml.schema_reference(out, root)
    assert reference == "../my%20repo%0Ax/schedules.schema.json"
    assert (out / unquote(reference)).resolve() == (root / "schedules.schema.json").resolve()
    assert imported_yaml.schema_reference(root / "schedules", root) == "../schedules.schema.json"


def test_a_missing_schema_file_gets_a_hint(example: Sandbox, tmp_path: Path) -> None:
    result = cli(example, "import", "--out", "out", cwd=tmp_path)
    assert result.returncode == 0
    assert "`holistics-schedules schema > schedules.schema.json`" in result.stdout


def test_each_entry_has_its_sources_title_above_it_read_once_per_source(example: Sandbox, tmp_path: Path) -> None:
    example.control.clear_requests()
    result = cli(example, "import", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    remote = {s["id"]: s for s in example.control.schedules()}
    alerts = {a["id"]: a for a in example.control.alerts()}
    for path in (tmp_path / "schedules").glob("*.yml"):
        schedules_part, _, alerts_part = path.read_text().partition("\nalerts:\n")
        for alert_lines in (alerts_part.splitlines(),):  # an alert's source has no title in the API: named
            for i in (i for i, line in enumerate(alert_lines) if re.fullmatch(r"  [a-z0-9-]+:", line)):
                alert = alerts[int(alert_lines[i + 1].removeprefix("    id: "))]
                source = "dashboard widget" if alert["source_type"] == "DashboardWidget" else "viz block"
                shown = f'"{alert["source_id"]}"' if isinstance(alert["source_id"], str) else alert["source_id"]
                assert alert_lines[i - 1] == f"  # {source} {shown}", (path, i)
        lines = schedules_part.splitlines()
        starts = [i for i, line in enumerate(lines) if re.fullmatch(r"  [a-z0-9-]+:", line)]
        assert starts or path.name == "webhook.yml"
        for i in starts:
            schedule = remote[int(lines[i + 1].removeprefix("    id: "))]
            source = (schedule["source_type"], schedule["source_id"])
            kind = "dashboard" if source[0] == "Dashboard" else "query report"
            assert lines[i - 1] == f'  # {kind} {source[1]} "{TITLES[source]}"', (path, i)
    reads = [r["path"] for r in example.control.requests() if re.match(r"/(dashboards|query_reports)/", r["path"])]
    distinct = {(s["source_type"], s["source_id"]) for s in remote.values()}
    assert len(reads) == len(set(reads)) == len(distinct)  # one request per source, never per schedule


HOSTILE = {
    1234: "Sales\n  injected: 1\nschedules:\n  evil:\n    id: 1",
    1240: 'Funnel # "quoted" \\ back\\slash',
    1251: "\x1b[31mred\x1b[0m\u2028sep\x85nel\u202eevil\ufeff\x00\x7f",
    1262: "long " * 100,
    1277: "\U0001f600 emoji, \u00e9t\u00e9, \u6771\u4eac",  # printable: as it is
}
LONE_SURROGATE = "lone \ud800 surrogate"  # JSON carries one; the sandbox cannot serve it, so unit-tested


def test_hostile_titles_neither_break_the_yaml_nor_add_keys(tmp_path: Path) -> None:
    seed = copy.deepcopy(SEED)
    for dashboard in seed["dashboards"]:
        dashboard["title"] = HOSTILE.get(dashboard["id"], dashboard["title"])
    seed_file = tmp_path / "seed.json"
    seed_file.write_text(json.dumps(seed))
    with Sandbox(seed=str(seed_file)) as sb:
        result = cli(sb, "import", "--ids", cwd=tmp_path)  # by id: the fields are the spec's (issue 20)
        assert result.returncode == 0, result.stderr
        assert cli(sb, "plan", "--detailed-exitcode", cwd=tmp_path).returncode == 0
        expected = {s["id"] for s in sb.control.schedules()}
    written = entries_of(tmp_path / "schedules")
    assert {d["id"] for d in written.values()} == expected  # every entry, and no key injected
    assert all(set(d) <= set(import_entries.FIELD_ORDER) for d in written.values())
    text = "".join(p.read_bytes().decode("utf-8") for p in (tmp_path / "schedules").glob("*.yml"))  # strict UTF-8
    comments = [line for line in text.splitlines() if line.lstrip().startswith("#")]
    assert all(c.isprintable() for c in comments)
    titled = {int(m[1]): m[2] for c in comments if (m := re.fullmatch(r'  # dashboard (\d+) "(.*)"', c))}
    assert titled[1234] == "Sales\\n  injected: 1\\nschedules:\\n  evil:\\n    id: 1"
    assert titled[1240] == 'Funnel # \\"quoted\\" \\\\ back\\\\slash'
    assert titled[1251] == "\\x1b[31mred\\x1b[0m\\u2028sep\\x85nel\\u202eevil\\ufeff\\x00\\x7f"
    assert titled[1262] == ("long " * 100)[: imported_yaml.TITLE_LIMIT] + "..."
    assert titled[1277] == HOSTILE[1277]


def test_a_source_that_cannot_be_read_gets_no_title(sandbox: Sandbox, tmp_path: Path) -> None:
    base = {"schedule": {"repeat": "0 8 * * 1", "paused": False}}
    email = {"type": "EmailDest", "recipients": ["a@example.com"]}
    sandbox.control.put_schedules(
        [
            {**base, "title": "forbidden", "source_type": "Dashboard", "source_id": 1234, "dest": email},
            {**base, "title": "refused", "source_type": "Dashboard", "source_id": 1240, "dest": email},
            {**base, "title": "fine", "source_type": "QueryReport", "source_id": 5301, "dest": email},
        ]
    )
    sandbox.control.add_schedule(
        {**base, "title": "gone", "source_type": "Dashboard", "source_id": 9999, "dest": email}, validate=False
    )
    sandbox.control.set_list_metadata(False)  # titles read one by one, as without list_metadata (issue 20)
    sandbox.control.add_fault("GET", "/dashboards/1234", status=403, count=None)
    sandbox.control.add_fault("GET", "/dashboards/1240", status=400, count=None)  # an error: warned, not fatal
    result = cli(sandbox, "import", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    text = (tmp_path / "schedules" / "email.yml").read_text()
    above = dict(re.findall(r"(?m)^  # (.*)\n  ([a-z0-9-]+):$", text)[i][::-1] for i in range(4))
    assert above == {
        "forbidden": "dashboard 1234",
        "refused": "dashboard 1240",
        "fine": 'query report 5301 "Daily Orders Export"',
        "gone": "dashboard 9999 (not found)",
    }
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "dashboard 1240" in warnings[0] and "no title" in warnings[0], result.stderr
    assert "Imported 4 schedule(s)" in result.stdout


# ---- import ID... ----


def test_import_ids_writes_just_those(example: Sandbox, tmp_path: Path) -> None:
    result = cli(example, "import", "4808", "4801", "4808", cwd=tmp_path)  # a repeat counts once
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Imported 2 schedule(s)" in result.stdout  # ids name schedules: no alert is imported with them
    assert sorted(p.name for p in (tmp_path / "schedules").iterdir()) == ["email-subscription.yml", "email.yml"]
    assert sorted(d["id"] for d in entries_of(tmp_path / "schedules").values()) == [4801, 4808]
    plan = cli(example, "plan", "--json", "--detailed-exitcode", cwd=tmp_path)
    assert plan.returncode == 0, plan.stdout
    unmanaged = len(example.control.schedules()) - 2 + len(example.control.alerts())
    assert json.loads(plan.stdout)["summary"]["unmanaged"] == unmanaged


@pytest.mark.parametrize(
    "args, named",
    [
        (("4801", "999999", "888888"), "the workspace has no schedule 999999, 888888"),
        (("abc",), "not a schedule id: 'abc'"),
        (("4801", "0", "4801x", "\u0667"), "not a schedule id: '0', '4801x', '\u0667'"),
    ],
)
def test_an_id_that_cannot_be_imported_is_refused_before_anything_is_written(
    example: Sandbox, tmp_path: Path, args: tuple[str, ...], named: str
) -> None:
    example.control.clear_requests()
    result = cli(example, "import", *args, "--out", "out", cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert named in result.stderr and "4801" not in result.stderr.split(named)[0], result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    assert not (tmp_path / "out").exists()
    if "not a schedule id" in named:
        assert example.control.requests() == []  # said before any request


def test_an_id_outside_the_scope_is_refused(example: Sandbox, tmp_path: Path) -> None:
    (tmp_path / "holistics-schedules.yml").write_text("scope:\n  dashboards: [1234]\n")
    outside = cli(example, "import", "4801", "4808", cwd=tmp_path)  # 4808 delivers dashboard 1240
    assert outside.returncode == 1 and "outside this repo's scope" in outside.stderr and "4808" in outside.stderr
    assert not (tmp_path / "schedules").exists()
    inside = cli(example, "import", "4801", cwd=tmp_path)
    assert inside.returncode == 0, inside.stderr


def test_import_ids_with_unmanaged_takes_only_undeclared_ones_into_new_files(example: Sandbox, tmp_path: Path) -> None:
    assert cli(example, "import", "4801", cwd=tmp_path).returncode == 0
    email = tmp_path / "schedules" / "email.yml"
    before = email.read_bytes()
    declared = cli(example, "import", "--unmanaged", "4801", "4808", cwd=tmp_path)
    assert declared.returncode == 1, declared.stdout
    assert "already declared in the YAML: 4801 (weekly-sales-summary in schedules/email.yml)" in declared.stderr
    assert sorted(p.name for p in (tmp_path / "schedules").iterdir()) == ["email.yml"]

    # by content too: an entry without its id still holds its schedule
    email.write_text(re.sub(r"(?m)^    id: \d+\n", "", before.decode()))
    adopted = cli(example, "import", "--unmanaged", "4801", cwd=tmp_path)
    assert adopted.returncode == 1 and "already declared in the YAML: 4801" in adopted.stderr
    email.write_bytes(before)

    added = cli(example, "import", "--unmanaged", "4808", "4804", cwd=tmp_path)
    assert added.returncode == 0, added.stdout + added.stderr
    assert email.read_bytes() == before  # never touched
    names = sorted(p.name for p in (tmp_path / "schedules").iterdir())
    assert names == ["email.yml", "unmanaged-email-subscription.yml", "unmanaged-email.yml"]
    assert sorted(d["id"] for d in entries_of(tmp_path / "schedules").values()) == [4801, 4804, 4808]
    plan = cli(example, "plan", "--json", "--detailed-exitcode", cwd=tmp_path)
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert json.loads(plan.stdout)["summary"]["unchanged"] == 3


def test_import_ids_over_existing_files_needs_force_and_says_what_it_does(example: Sandbox, tmp_path: Path) -> None:
    assert cli(example, "import", "4801", cwd=tmp_path).returncode == 0
    refused = cli(example, "import", "4804", cwd=tmp_path)
    assert refused.returncode == 1 and "pass --force" in refused.stderr and "--unmanaged" in refused.stderr
    assert [d["id"] for d in entries_of(tmp_path / "schedules").values()] == [4801]
    forced = cli(example, "import", "4804", "--force", cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert [d["id"] for d in entries_of(tmp_path / "schedules").values()] == [4804]
    elsewhere = cli(example, "import", "4804", "4805", "--out", "other", cwd=tmp_path)
    assert elsewhere.returncode == 0
    assert sorted(d["id"] for d in entries_of(tmp_path / "other").values()) == [4804, 4805]


def test_an_id_the_format_cannot_hold_is_skipped_with_a_warning(example: Sandbox, tmp_path: Path) -> None:
    lake = example.control.add_schedule(
        {
            "source_type": "Dashboard",
            "source_id": 1234,
            "schedule": {"repeat": "0 1 * * *", "paused": False},
            "dest": {"type": "Adls2Dest", "path": "/lake"},
        },
        validate=False,
    )
    result = cli(example, "import", str(lake["id"]), "4801", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"skipped schedule {lake['id']}" in result.stderr and "Imported 1 schedule(s); 1 skipped" in result.stdout


class _Client:
    """Only what `select` asks of a client: a schedule by id."""

    def __init__(self, schedules: dict[int, dict[str, Any]]) -> None:
        self.schedules = schedules
        self.asked: list[int] = []

    def get(self, kind: Kind, schedule_id: int) -> dict[str, Any]:
        self.asked.append(schedule_id)
        if schedule_id not in self.schedules:
            path = f"/data_schedules/{schedule_id}"
            raise NotFound("gone", status=404, error_type="RecordNotFound", api_message="", method="GET", path=path)
        return self.schedules[schedule_id]


def test_an_id_the_listing_leaves_out_is_read_by_id() -> None:
    """The default listing omits schedules made by embed users; an id given is read by GET."""
    listed = [{**EXAMPLE[0], "id": 1}]
    unlisted = {**EXAMPLE[1], "id": 2, "created_at": "2026-01-01"}
    client = _Client({2: unlisted})
    picked = importing.select(client, listed, [2, 1], in_scope=lambda s: True)  # type: ignore[arg-type]
    assert [s["id"] for s in picked] == [2, 1] and client.asked == [2]
    assert "created_at" not in picked[0]  # seen through the spec, as the listing's are
    with pytest.raises(importing.ImportRefused, match="the workspace has no schedule 3; nothing was written"):
        importing.select(client, listed, [1, 3], in_scope=lambda s: True)  # type: ignore[arg-type]


# ---- the concise form, property by property ----


def test_concise_drops_nulls_and_defaults_and_keeps_content() -> None:
    data: dict[str, Any] = {
        "id": 7,
        "title": None,
        "source_type": "Dashboard",
        "source_id": 1234,
        "schedule": {"repeat": "0 8 * * 1", "paused": False},
        "dynamic_filter_presets": [
            {"dynamic_filter_id": 7, "preset_condition": {"operator": "is", "values": ["A"], "modifier": None}},
            {
                "dynamic_filter_id": 8,
                "preset_condition": {"operator": "is_null", "values": []},  # required, even when empty
                "public_hidden": False,
            },
            {"dynamic_filter_id": 9, "preset_condition": {"operator": "is", "values": ["B"]}, "public_hidden": True},
        ],
        "dest": {
            "type": "EmailDest",
            "title": None,
            "recipients": ["a@example.com"],
            "options": {"preview": False, "body_text": "", "attachment_formats": [], "selected_values": None},
        },
    }
    assert importing.concise(data) == {
        "id": 7,
        "source_type": "Dashboard",
        "source_id": 1234,
        "schedule": {"repeat": "0 8 * * 1"},
        "dynamic_filter_presets": [
            {"dynamic_filter_id": 7, "preset_condition": {"operator": "is", "values": ["A"]}},
            {"dynamic_filter_id": 8, "preset_condition": {"operator": "is_null", "values": []}},
            {"dynamic_filter_id": 9, "preset_condition": {"operator": "is", "values": ["B"]}, "public_hidden": True},
        ],
        # no documented default for the options: false, "" and [] are the workspace's choices, kept
        "dest": {
            "type": "EmailDest",
            "recipients": ["a@example.com"],
            "options": {"preview": False, "body_text": "", "attachment_formats": []},
        },
    }
    paused = {**data, "schedule": {"repeat": "0 8 * * 1", "paused": True}, "dynamic_filter_presets": []}
    short = importing.concise(paused)
    assert short["schedule"] == {"repeat": "0 8 * * 1", "paused": True} and "dynamic_filter_presets" not in short
    nulls = {"type": "EmailDest", "recipients": ["a@example.com"], "options": {"body_text": None}}
    assert importing.concise({**data, "dest": nulls})["dest"] == {"type": "EmailDest", "recipients": ["a@example.com"]}


def test_free_form_items_are_kept_whole() -> None:
    """Plan compares the keys the YAML writes in Slack channels: a null dropped from one would become
    a difference against every channel that has the key."""
    channels = [{"id": "C1", "name": None, "type": "public_channel"}, {"id": "C2", "name": "x", "type": None}]
    data = {
        "source_type": "Dashboard",
        "source_id": 1234,
        "schedule": {"repeat": "0 8 * * 1", "paused": False},
        "dest": {
            "type": "SlackDest",
            "slack_channels": channels,
            "title": None,
            "message": None,
            "hide_filters": False,
        },
    }
    short = importing.concise(data)
    assert short["dest"] == {"type": "SlackDest", "slack_channels": channels, "hide_filters": False}


_CHOICES: st.SearchStrategy[Any] = st.sampled_from([None, "absent", False, True, "", []])


Setting = Callable[..., None]


def _email_options(draw: st.DrawFn, dest: dict[str, Any], setting: Setting) -> None:
    setting(dest, "title", st.sampled_from([None, "absent", "", "Subject"]))
    options = dest.setdefault("options", {})
    for name in ("preview", "include_header", "include_filters", "dont_send_when_empty"):
        setting(options, name, st.sampled_from([None, "absent", False, True]))
    setting(options, "body_text", st.sampled_from([None, "absent", "", "Hello"]))
    setting(options, "selected_values", st.sampled_from([None, "absent", []]))
    if draw(st.booleans()):
        dest["options"] = {}


def _slack_options(draw: st.DrawFn, dest: dict[str, Any], setting: Setting) -> None:
    for name in ("title", "message"):
        setting(dest, name, st.sampled_from([None, "absent", "", "Text"]))
    setting(dest, "hide_filters", st.sampled_from([None, "absent", False, True]))
    if draw(st.booleans()):
        dest["slack_channels"] = [*dest["slack_channels"], {"id": "C0EXTRA", "name": "x", "type": "public_channel"}]
    for channel in dest["slack_channels"]:  # free-form items: a null inside is kept, as sent
        setting(channel, "name", st.sampled_from([None, "absent", "general"]))


@st.composite
def server_schedules(draw: st.DrawFn) -> dict[str, Any]:
    """An example schedule with its optional fields drawn (null, left out, a boolean, empty), as a
    server returns it: unset nullable fields rendered null, the spec's defaults filled in."""
    body = copy.deepcopy(draw(st.sampled_from(EXAMPLE)))

    def setting(parent: dict[str, Any], name: str, values: st.SearchStrategy[Any] = _CHOICES) -> None:
        value = draw(values)
        if value == "absent":
            parent.pop(name, None)
        else:
            parent[name] = value

    setting(body, "title", st.sampled_from([None, "absent", "", "Title"]))
    setting(body["schedule"], "paused", st.booleans())
    if draw(st.booleans()):
        body["dynamic_filter_presets"] = []
    for preset in body.get("dynamic_filter_presets") or []:
        setting(preset, "public_hidden", st.sampled_from([None, "absent", False, True]))
    dest = body["dest"]
    if dest["type"] in ("EmailDest", "EmailSubscriptionDest"):
        _email_options(draw, dest, setting)
    elif dest["type"] == "SlackDest":
        _slack_options(draw, dest, setting)
    preset_ids = iter(range(1, 100))
    stored = server_normalize(body, schedule_id=draw(st.integers(1, 10**6)), preset_id=lambda sent: next(preset_ids))
    return SCHEDULES.view(stored)


@settings(max_examples=300, deadline=None)
@given(remote=server_schedules())
def test_the_concise_entry_means_what_the_full_one_does(remote: dict[str, Any]) -> None:
    """For any schedule a server returns: no null is written, every value that is content is kept,
    the next plan finds no difference, and adoption by content still takes this schedule."""
    full = import_entries.entry(remote)
    assume(not import_entries.unrepresentable([remote]))
    short = importing.concise(full)
    assert all(v is not None for path, v in leaves(short) if "slack_channels" not in path)  # those kept whole
    for path, value in scalars(full):
        defaulted = path[-1:] in (("public_hidden",), ("paused",))  # the spec's default; the format's
        if is_content(value) or (isinstance(value, bool) and not defaulted):
            node: Any = short
            for part in path:
                node = node[part]
            assert node == value, path  # content, and booleans the spec documents no default for
    assert short["schedule"].get("paused", False) is remote["schedule"]["paused"]
    fields = DataScheduleSpec.model_validate(short).api_fields()
    assert differences(fields, remote, SCHEDULES) == ()
    assert adoptable(fields, remote, SCHEDULES)
    assert importing._no_worse(full, short, remote)  # so `write` never falls back to the full entry


def test_a_comment_is_one_line_whatever_the_title() -> None:
    for title in [*HOSTILE.values(), LONE_SURROGATE, "\r\n", "\u2029", "\t", "a\\", '"']:
        text = imported_yaml.comment(
            {"source_type": "Dashboard", "source_id": 1}, {("Dashboard", 1): Source("Dashboard", 1, True, title)}
        )
        assert text is not None and text.isprintable() and text.encode("utf-8")
        assert text.startswith('dashboard 1 "') and text.endswith('"')
        document = f"schedules:\n  # {text}\n  k: {{}}\n"
        assert YAML(typ="safe").load(document) == {"schedules": {"k": {}}}
        inner = text.removeprefix('dashboard 1 "').removesuffix('"')
        assert re.fullmatch(r'(?:[^"\\]|\\.)*(?:\.\.\.)?', inner), inner  # every quote inside is escaped


def test_import_says_which_imported_entries_the_next_plan_refuses(example_sandbox: Sandbox, tmp_path: Path) -> None:
    (tmp_path / "holistics-schedules.yml").write_text(
        "policy:\n  min_interval_minutes: 60\n  exceptions:\n"
        "    - {key: orders-pipeline-stale, rule: min_interval_minutes, reason: the pipeline's heartbeat}\n"
    )
    imported = cli(example_sandbox, "import", cwd=tmp_path)
    assert imported.returncode == 0, imported.stderr  # the inventory is written all the same
    warned = [line for line in imported.stderr.splitlines() if "the next plan refuses it" in line]
    assert len(warned) == 2 and all("min_interval_minutes: 60" in line for line in warned)
    assert not any("orders-pipeline-stale" in line for line in warned)  # excepted
    plan = cli(example_sandbox, "plan", cwd=tmp_path)
    assert plan.returncode == 1 and plan.stderr.count("more often than policy.min_interval_minutes") == 2
