"""Alerts in the schedule files: an `alerts:` map beside `schedules:`, read with the lines of every
field, each dest branch's own errors, keys unique across kinds and files, ids written back, cached,
and covered by the editor schema."""

from __future__ import annotations

import textwrap
from pathlib import Path

import jsonschema
import pytest
from ruamel.yaml import YAML

from reconciler.desired import schema, yamlread, yamlwrite
from reconciler.desired.filecache import FileCache
from reconciler.problems import InvalidSchedules

BOTH = """\
schedules:
  weekly-sales:
    source_type: Dashboard
    source_id: 1
    schedule: {repeat: "0 8 * * 1"}
    dest: {type: EmailDest, recipients: [sales@example.com]}
alerts:
  revenue-drop:
    title: Revenue below 1,000
    source_type: VizBlock
    source_id: "42"
    schedule:
      repeat: "0 * * * *"
    viz_conditions:
      - field_path: {field_name: revenue, model_id: 7}
        aggregation: sum
        condition:
          operator: less_than
          values: [1000]
    dest:
      type: SlackDest
      message: Revenue dropped
      slack_channels: [{id: C1, name: ops}]
  stale-data:
    id: 7
    source_type: DashboardWidget
    source_id: 42
    schedule: {repeat: "*/30 * * * *"}
    dest:
      type: WebhookDest
      endpoint: https://events.example.com/hook
"""


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def problems(*paths: Path) -> list[str]:
    with pytest.raises(InvalidSchedules) as exc:
        yamlread.load(list(paths), cache=False)
    return [str(p) for p in exc.value.problems]


def alert(key: str, dest: str, *, source_id: str = "1") -> str:
    return textwrap.indent(
        f"{key}:\n  source_type: DashboardWidget\n  source_id: {source_id}\n"
        f'  schedule: {{repeat: "0 * * * *"}}\n  dest:\n{textwrap.indent(dest, "    ")}',
        "  ",
    )


def test_a_file_with_both_maps_gives_entries_of_each_kind_with_their_lines(tmp_path: Path) -> None:
    write(tmp_path, "a.yml", BOTH)
    sales, drop, stale = yamlread.load([tmp_path], cache=False)
    assert (sales.kind, drop.kind, stale.kind) == ("schedules", "alerts", "alerts")
    assert drop.key == "revenue-drop" and drop.id is None and drop.line == 8
    assert drop.fields["source_id"] == "42" and stale.fields["source_id"] == 42  # kept as written
    assert drop.fields["dynamic_filter_presets"] == []  # required by the API: managed as none
    assert drop.fields["viz_conditions"][0]["field_path"] == {"field_name": "revenue", "model_id": 7}
    assert drop.line_of("viz_conditions.0.condition.values") == 19
    assert drop.line_of("dest.slack_channels.0.name") == 23
    assert stale.id == 7 and stale.line_of("dest.endpoint") == 31
    assert not sales.env and not drop.env


def test_a_file_of_alerts_only_is_a_schedule_file(tmp_path: Path) -> None:
    write(tmp_path, "a.yml", "alerts:\n" + alert("x", "type: EmailDest\nrecipients: [a@example.com]\n"))
    (only,) = yamlread.load([tmp_path], cache=False)
    assert only.kind == "alerts" and only.fields["dest"] == {"type": "EmailDest", "recipients": ["a@example.com"]}


@pytest.mark.parametrize(
    ("dest", "expected"),
    [
        (
            "type: WebhookDest\nendpoint: http://hooks.example.com/x\n",
            "/a.yml:8: x.dest.endpoint: a webhook endpoint must be an https:// URL with a host",
        ),
        ("type: WebhookDest\nendpiont: https://h.example.com\n", "/a.yml:8: x.dest.endpiont: unknown field"),
        ("type: EmailDest\nrecipients: [nobody]\n", "/a.yml:8: x.dest.recipients.0: not a valid email address"),
        ("type: EmailDest\nrecipients: []\ntitel: T\n", "/a.yml:9: x.dest.titel: unknown field; did you mean `title`?"),
        ("type: SlackDest\nmessage: hi\n", "/a.yml:6: x.dest.slack_channels: missing required field"),
        (
            "type: SlackDest\nslack_channels: []\nendpoint: https://h.example.com\n",
            "/a.yml:9: x.dest.endpoint: unknown field",  # a webhook's field is not a Slack one
        ),
        ("type: EmailDests\nrecipients: []\n", "did you mean `EmailDest`?"),
        ("type: SftpDest\n", "unknown dest type 'SftpDest'; one of: EmailDest, SlackDest, WebhookDest"),
    ],
)
def test_each_dest_branch_has_its_own_errors(tmp_path: Path, dest: str, expected: str) -> None:
    write(tmp_path, "a.yml", "alerts:\n" + alert("x", dest))
    assert any(expected in problem for problem in problems(tmp_path))


def test_alert_fields_are_checked_with_file_line_and_path(tmp_path: Path) -> None:
    text = BOTH.replace("aggregation: sum", "aggregation: summ").replace("model_id: 7", "modelid: 7")
    text = text.replace('source_id: "42"', "source_id: true")
    write(tmp_path, "a.yml", text)
    assert problems(tmp_path) == [
        f"{tmp_path}/a.yml:11: revenue-drop.source_id: must be a widget's id (a positive whole number) "
        "or a viz block's id (text)",
        f"{tmp_path}/a.yml:15: revenue-drop.viz_conditions.0.field_path.modelid: unknown field; did you mean "
        "`model_id`?",
        f"{tmp_path}/a.yml:16: revenue-drop.viz_conditions.0.aggregation: Input should be 'sum', 'avg', 'max', "
        "'min', 'running sum', 'running avg', 'running max', 'running min', 'count', 'count distinct', 'median', "
        "'stdev', 'stdevp', 'var', 'varp' or 'custom'; did you mean `sum`?",
    ]


def test_a_key_is_unique_across_kinds_and_files(tmp_path: Path) -> None:
    write(tmp_path, "a.yml", BOTH)
    write(
        tmp_path,
        "b.yml",
        "schedules:\n" + BOTH.split("schedules:\n")[1].split("alerts:")[0].replace("weekly-sales", "revenue-drop"),
    )
    write(
        tmp_path,
        "c.yml",
        BOTH.replace("schedules:", "x-unused:").split("alerts:")[0]
        + "alerts:\n"
        + alert("weekly-sales", "type: EmailDest\nrecipients: [a@example.com]\n"),
    )
    found = problems(tmp_path)
    assert found == [
        f"{tmp_path}/b.yml:2: revenue-drop: duplicate key: also defined at {tmp_path}/a.yml:8 (as an alert)",
        f"{tmp_path}/c.yml:8: weekly-sales: duplicate key: also defined at {tmp_path}/a.yml:2 (as a schedule)",
    ]


def test_a_key_in_both_maps_of_one_file_is_a_duplicate(tmp_path: Path) -> None:
    write(tmp_path, "a.yml", BOTH.replace("stale-data:", "weekly-sales:"))
    assert problems(tmp_path) == [
        f"{tmp_path}/a.yml:24: weekly-sales: duplicate key: also defined at {tmp_path}/a.yml:2 (as a schedule)"
    ]


def test_ids_are_unique_within_a_kind_only(tmp_path: Path) -> None:
    write(tmp_path, "a.yml", BOTH.replace("source_id: 1\n", "source_id: 1\n    id: 7\n", 1))
    assert [e.id for e in yamlread.load([tmp_path], cache=False)] == [7, None, 7]
    write(
        tmp_path,
        "b.yml",
        "alerts:\n"
        + alert("other", "type: EmailDest\nrecipients: []\n").replace("source_type", "id: 7\n    source_type", 1),
    )
    (problem,) = problems(tmp_path)
    assert problem.startswith(f"{tmp_path}/b.yml:3: other.id: id 7 is already claimed by 'stale-data'")


@pytest.mark.parametrize(
    ("key", "guess"), [("alert", "; did you mean `alerts`?"), ("schedule", "; did you mean `schedules`?"), ("zzz", "")]
)
def test_an_unknown_top_level_key_names_both_maps(tmp_path: Path, key: str, guess: str) -> None:
    write(tmp_path, "a.yml", BOTH + f"{key}: {{}}\n")
    assert problems(tmp_path) == [
        f"{tmp_path}/a.yml:32: {key}: unknown top-level key: `schedules`, `alerts` or `x-...` (for anchors){guess}"
    ]


def test_alerts_that_is_not_a_mapping_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, "a.yml", "alerts: [a, b]\n")
    assert problems(tmp_path) == [f"{tmp_path}/a.yml:1: alerts: must be a mapping"]
    write(tmp_path, "a.yml", "alerts:\nschedules:\n")
    assert yamlread.load([tmp_path], cache=False) == []


def test_ids_are_written_into_alert_entries_of_a_file_with_both_maps(tmp_path: Path) -> None:
    path = write(tmp_path, "a.yml", BOTH)
    unrecorded = yamlwrite.record_ids({str(path): {"revenue-drop": 31, "weekly-sales": 5}}, [path])
    assert unrecorded == []
    text = path.read_text()
    assert text == BOTH.replace("  revenue-drop:\n    title", "  revenue-drop:\n    id: 31\n    title").replace(
        "  weekly-sales:\n    source_type", "  weekly-sales:\n    id: 5\n    source_type"
    )
    by_key = {e.key: e for e in yamlread.load([path], cache=False)}
    assert by_key["revenue-drop"].id == 31 and by_key["revenue-drop"].kind == "alerts"
    assert by_key["weekly-sales"].id == 5 and by_key["weekly-sales"].kind == "schedules"


def test_an_alert_id_is_overwritten_only_where_it_was_stale(tmp_path: Path) -> None:
    path = write(tmp_path, "a.yml", BOTH)
    (missed,) = yamlwrite.record_ids({str(path): {"stale-data": 8}}, [path])
    assert missed.key == "stale-data" and "has id 7" in missed.reason
    assert yamlwrite.record_ids({str(path): {"stale-data": 8}}, [path], replacing={(str(path), "stale-data"): 7}) == []
    assert "    id: 8\n" in path.read_text()


def test_the_cache_gives_back_alerts_exactly(tmp_path: Path) -> None:
    path = write(tmp_path, "a.yml", BOTH)
    store = FileCache(tmp_path / "cache", tmp_path / "key")
    cold = yamlread.load([path], cache=store)
    warm = yamlread.load([path], cache=store)
    assert len(list(store.directory.glob("*.entry"))) == 1
    assert [(e.kind, e.key, e.fields, dict(e.field_lines)) for e in warm] == [
        (e.kind, e.key, e.fields, dict(e.field_lines)) for e in cold
    ]
    assert type(warm[1].fields["source_id"]) is str and type(warm[2].fields["source_id"]) is int


def test_the_editor_schema_covers_alerts() -> None:
    document = YAML(typ="safe").load(BOTH)
    validator = jsonschema.Draft7Validator(schema.schedule_file_schema())
    validator.validate(document)
    document["alerts"]["stale-data"]["dest"]["endpiont"] = document["alerts"]["stale-data"]["dest"].pop("endpoint")
    assert not validator.is_valid(document)
    document = YAML(typ="safe").load(BOTH)
    document["alerts"]["revenue-drop"]["viz_conditions"][0]["aggregation"] = "summ"
    assert not validator.is_valid(document)
    document["alert"] = document.pop("alerts")
    assert not validator.is_valid(document)
