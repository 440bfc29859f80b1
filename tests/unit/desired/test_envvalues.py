"""Values from the environment: `${NAME}` read as written, checked offline, resolved (and checked
again) only when asked, never shown, never cached; fingerprints that hold no value."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from reconciler.desired import entrycheck, envvalues, filecache, yamlentries, yamlread
from reconciler.desired.envvalues import env_values, fingerprint, fingerprint_key, resolve, substitute, variables
from reconciler.desired.filecache import FileCache
from reconciler.kinds.entries import DesiredEntry
from reconciler.problems import InvalidSchedules

SECRET = "s3cr3t-integration-key"
FILE = """\
schedules:
  weekly:
    source_type: Dashboard
    source_id: 1
    schedule: {repeat: "0 8 * * 1"}
    dest:
      type: EmailDest
      title: "Costs $$100, $5 and ${CURRENCY}$$"
      recipients: [sales@example.com, "${ONCALL}"]
      options: {body_text: "plain $$ and $100"}
alerts:
  page-on-call:
    source_type: VizBlock
    source_id: "${VIZ}"
    schedule: {repeat: "*/30 * * * *"}
    viz_conditions:
      - field_path: {field_name: "${FIELD}"}
        aggregation: "${AGG}"
        condition: {operator: less_than, values: ["${LIMIT}"]}
    dest:
      type: WebhookDest
      endpoint: "${PAGER_URL}"
  events:
    source_type: DashboardWidget
    source_id: 3
    schedule: {repeat: "0 * * * *"}
    dest: {type: WebhookDest, endpoint: "https://events.example.com/${KEY}/${KEY}?a=${OTHER}"}
"""
ENV = {
    "CURRENCY": "EUR",
    "ONCALL": "oncall@example.com",
    "VIZ": "viz-9",
    "FIELD": "revenue",
    "AGG": "sum",
    "LIMIT": "1000",
    "PAGER_URL": f"https://events.pagerduty.com/{SECRET}",
    "KEY": SECRET,
    "OTHER": "x",
}


def write(directory: Path, text: str, name: str = "a.yml") -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text))
    return path


def load(path: Path) -> dict[str, DesiredEntry]:
    return {e.key: e for e in yamlread.load([path], cache=False)}


def resolve_problems(entries: list[DesiredEntry], environ: dict[str, str]) -> list[str]:
    with pytest.raises(InvalidSchedules) as exc:
        resolve(entries, environ)
    return [str(p) for p in exc.value.problems]


# ---- the expressions ----


@pytest.mark.parametrize(
    ("text", "names", "value"),
    [
        ("${A}", ["A"], "<A>"),
        ("$$", [], "$"),
        ("$100 and $ alone and $", [], "$100 and $ alone and $"),  # a lone `$` is itself
        ("$${A}", [], "${A}"),  # an escaped `$` then text: no variable
        ("$$$${A}", [], "$${A}"),
        ("$$${A}", ["A"], "$<A>"),
        ("${A}${B_2}-${_c}-${A}", ["A", "B_2", "_c"], "<A><B_2>-<_c>-<A>"),
        ("${1A} ${A-B} ${} ${A", [], "${1A} ${A-B} ${} ${A"),  # not a name: literal
        ("no dollar", [], "no dollar"),
    ],
)
def test_variables_and_substitution(text: str, names: list[str], value: str) -> None:
    assert variables(text) == names
    assert substitute(text, lambda name: f"<{name}>") == value


def test_a_value_is_never_substituted_again() -> None:
    assert substitute("${A}", lambda _: "${B} $$") == "${B} $$"


# ---- reading: the expressions as written, checked offline ----


def test_reading_keeps_expressions_and_records_where_they_are(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV:
        monkeypatch.delenv(name, raising=False)  # reading never needs (or reads) a variable
    entries = load(write(tmp_path, FILE))
    weekly, page, events = entries["weekly"], entries["page-on-call"], entries["events"]
    assert weekly.env == {"dest.title": "Costs $$100, $5 and ${CURRENCY}$$", "dest.recipients.1": "${ONCALL}"}
    assert weekly.fields["dest"]["recipients"] == ["sales@example.com", "${ONCALL}"]
    assert weekly.fields["dest"]["options"] == {"body_text": "plain $ and $100"}  # no variable: `$$` is `$` now
    assert page.env == {
        "source_id": "${VIZ}",
        "viz_conditions.0.field_path.field_name": "${FIELD}",
        "viz_conditions.0.aggregation": "${AGG}",  # an enum's value: checked once known
        "viz_conditions.0.condition.values.0": "${LIMIT}",
        "dest.endpoint": "${PAGER_URL}",  # not an https URL as written: checked once known
    }
    assert page.fields["dest"] == {"type": "WebhookDest", "endpoint": "${PAGER_URL}"}
    assert page.fields["viz_conditions"][0]["aggregation"] == "${AGG}"
    assert events.env == {"dest.endpoint": "https://events.example.com/${KEY}/${KEY}?a=${OTHER}"}


_TO_A = "dest: {type: EmailDest, recipients: [a@example.com]}"
_NO_VARIABLE_TEXTS = {
    "holistics' own": f'title: "Sales of {{{{$today}}}}"\n      {_TO_A}',
    "folded plain": f"title: costs $\n        {{X}} and $\n        $ more\n      {_TO_A}",
    "block literal": f"title: |\n        $\n        {{X}}\n      {_TO_A}",
    "block folded": f"title: >\n        $\n        {{X}}\n      {_TO_A}",
    "alias": "title: &t a $ b\n      dest: {type: EmailDest, recipients: [a@example.com], title: *t}",
    "escapes that write neither": f'title: "a\\tb \\" $\\\\{{X}} \\x25"\n      {_TO_A}',
}


@pytest.mark.parametrize("body", _NO_VARIABLE_TEXTS.values(), ids=_NO_VARIABLE_TEXTS.keys())
def test_a_file_without_a_variable_or_escape_reads_as_when_walked_for_them(
    tmp_path: Path, body: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reading skips the look for `${NAME}` and `$$` in a file whose text has neither (nor an escape
    that writes `$` or `{`): what it reads must be what the look would have given."""
    head = "schedules:\n  a:\n      source_type: Dashboard\n      source_id: 1\n"
    text = f"{head}      schedule: {{repeat: '0 8 * * *'}}\n      {body}\n"
    assert "${" not in text and "$$" not in text
    parsed = yamlentries.parse("a.yml", text)
    entry = parsed.entries[0]
    assert entry.data is not None
    assert entrycheck.checked("a.yml", entry, literal=True) == entrycheck.checked("a.yml", entry, literal=False)

    def no_look(*_: object) -> None:
        raise AssertionError("looked through for variables")

    monkeypatch.setattr(envvalues, "written", no_look)
    (read,) = yamlread._read_file("a.yml", text.encode())[0]
    assert read.env == {} and "$" in str(read.fields)


@pytest.mark.parametrize(
    "escaped",
    ["\\x24{", "\\u0024{", "\\U00000024{", "$\\x7b", "$\\u007B", "$\\U0000007b", "$\\\n          {"],
)
def test_a_dollar_written_as_an_escape_is_a_variable_too(tmp_path: Path, escaped: str) -> None:
    """A file with no `${` in its text can still hold one in a value: a double-quoted escape of `$` or
    `{`, or an escaped line break between them."""
    text = FILE.split("alerts:")[0].replace('"${ONCALL}"', f'"{escaped}ONCALL}}"')
    assert "${ONCALL}" not in text
    weekly = load(write(tmp_path, text.replace("$$", "").replace("$5", "").replace("$100", "").replace("${", "{")))
    assert weekly["weekly"].env == {"dest.recipients.1": "${ONCALL}"}


def test_monkeypatched_environment_changes_nothing_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, FILE)
    before = [(e.fields, e.env) for e in yamlread.load([path], cache=False)]
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    assert [(e.fields, e.env) for e in yamlread.load([path], cache=False)] == before


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("http://events.example.com/${KEY}", "a webhook endpoint must be an https:// URL with a host"),
        ("${SCHEME}://events.example.com/x", "a webhook endpoint must be an https:// URL with a host"),
    ],
)
def test_a_partial_expression_is_checked_as_written(tmp_path: Path, value: str, problem: str) -> None:
    write(tmp_path, FILE.replace("https://events.example.com/${KEY}/${KEY}?a=${OTHER}", value))
    with pytest.raises(InvalidSchedules) as exc:
        yamlread.load([tmp_path], cache=False)
    assert [str(p) for p in exc.value.problems] == [f"{tmp_path}/a.yml:27: events.dest.endpoint: {problem}"]


def test_a_whole_expression_is_still_checked_for_its_type_and_place(tmp_path: Path) -> None:
    text = FILE.replace("source_id: 1\n", 'source_id: "${ID}"\n').replace("body_text:", 'body_txt: "${B}", body_text:')
    write(tmp_path, text)
    with pytest.raises(InvalidSchedules) as exc:
        yamlread.load([tmp_path], cache=False)
    assert [str(p) for p in exc.value.problems] == [
        f"{tmp_path}/a.yml:4: weekly.source_id: Input should be a valid integer",
        f"{tmp_path}/a.yml:10: weekly.dest.options.body_txt: unknown field",
    ]


# ---- resolving ----


def test_resolve_takes_each_value_from_the_environment(tmp_path: Path) -> None:
    entries = yamlread.load([write(tmp_path, FILE)], cache=False)
    resolved = {e.key: e for e in resolve(entries, ENV)}
    weekly, page, events = resolved["weekly"], resolved["page-on-call"], resolved["events"]
    assert weekly.fields["dest"]["title"] == "Costs $100, $5 and EUR$"
    assert weekly.fields["dest"]["recipients"] == ["sales@example.com", "oncall@example.com"]
    assert page.fields["source_id"] == "viz-9"
    assert page.fields["viz_conditions"][0] == {
        "field_path": {"field_name": "revenue"},
        "aggregation": "sum",
        "condition": {"operator": "less_than", "values": ["1000"]},
    }
    assert events.fields["dest"]["endpoint"] == f"https://events.example.com/{SECRET}/{SECRET}?a=x"
    assert page.env == entries[1].env  # the outputs still know what to hide
    assert entries[1].fields["dest"]["endpoint"] == "${PAGER_URL}"  # the entries read are not changed
    assert resolve(list(resolved.values()), ENV) == list(resolved.values())  # from the expressions, always


def test_an_entry_without_variables_is_given_back_as_it_is(tmp_path: Path) -> None:
    entry = next(e for e in yamlread.load([write(tmp_path, FILE)], cache=False) if e.key == "weekly")
    plain = DesiredEntry(entry.key, None, {"title": "$x"}, entry.file, entry.line)
    assert resolve([plain], {})[0] is plain


def test_every_unset_variable_is_a_problem_at_its_line_naming_field_and_variable(tmp_path: Path) -> None:
    entries = yamlread.load([write(tmp_path, FILE)], cache=False)
    entries += yamlread.load([write(tmp_path, FILE.replace("weekly:", "other:").split("alerts:")[0], "b.yml")])
    environ = {k: v for k, v in ENV.items() if k not in ("ONCALL", "KEY", "PAGER_URL")}
    found = resolve_problems(entries, environ)
    a, b = f"{tmp_path}/a.yml", f"{tmp_path}/b.yml"
    assert found == [
        f"{a}:9: weekly.dest.recipients.1: `${{ONCALL}}` is not set in the environment",
        f"{a}:22: page-on-call.dest.endpoint: `${{PAGER_URL}}` is not set in the environment",
        f"{a}:27: events.dest.endpoint: `${{KEY}}` is not set in the environment",
        f"{b}:9: other.dest.recipients.1: `${{ONCALL}}` is not set in the environment",
    ]
    assert not any(value in problem for problem in found for value in environ.values())


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"PAGER_URL": f"http://events.pagerduty.com/{SECRET}"},
            "a.yml:22: page-on-call.dest.endpoint: not valid with the value of `${PAGER_URL}` from the environment: "
            "a webhook endpoint must be an https:// URL with a host",
        ),
        (
            {"ONCALL": f"{SECRET}-not-an-address"},
            "a.yml:9: weekly.dest.recipients.1: not valid with the value of `${ONCALL}` from the environment: "
            "not a valid email address",
        ),
        (
            {"AGG": f"{SECRET}"},
            "a.yml:18: page-on-call.viz_conditions.0.aggregation: not valid with the value of `${AGG}` from the "
            "environment",
        ),
        (
            {"VIZ": ""},
            "a.yml:14: page-on-call.source_id: not valid with the value of `${VIZ}` from the environment: must be a "
            "widget's id",
        ),
    ],
)
def test_a_resolved_value_is_validated_again_and_never_shown(
    tmp_path: Path, changes: dict[str, str], expected: str
) -> None:
    entries = yamlread.load([write(tmp_path, FILE)], cache=False)
    (found,) = resolve_problems(entries, ENV | changes)
    assert found.startswith(f"{tmp_path}/{expected}")
    assert SECRET not in found and "pagerduty" not in found


def test_a_reason_that_would_hold_the_value_is_left_out(tmp_path: Path) -> None:
    # the value is one of the allowed names' parts: pydantic's list of choices would show it
    entries = yamlread.load([write(tmp_path, FILE)], cache=False)
    (found,) = resolve_problems(entries, ENV | {"AGG": "running"})
    assert found.endswith("not valid with the value of `${AGG}` from the environment")


# ---- what plans and redaction get instead of values ----


def test_a_fingerprint_is_stable_keyed_and_holds_no_value() -> None:
    key = fingerprint_key("api-key-1")
    assert key == fingerprint_key("api-key-1") != fingerprint_key("api-key-2")
    assert fingerprint(SECRET, key) == fingerprint(SECRET, key)
    assert fingerprint(SECRET, key) != fingerprint(SECRET + " ", key)
    assert fingerprint(SECRET, key) != fingerprint(SECRET, fingerprint_key("api-key-2"))
    assert fingerprint(SECRET, key).startswith("hmac-sha256:") and SECRET not in fingerprint(SECRET, key)
    assert key not in fingerprint(SECRET, key).encode()


def test_fingerprints_of_an_entry_are_by_field_and_follow_the_value(tmp_path: Path) -> None:
    entries = yamlread.load([write(tmp_path, FILE)], cache=False)
    key = fingerprint_key("api-key")
    page = resolve(entries, ENV)[1]
    prints = envvalues.fingerprints(page, key)
    assert set(prints) == set(page.env) and prints["dest.endpoint"] == fingerprint(ENV["PAGER_URL"], key)
    changed = resolve(entries, ENV | {"PAGER_URL": "https://events.pagerduty.com/other"})[1]
    assert envvalues.fingerprints(changed, key)["dest.endpoint"] != prints["dest.endpoint"]


def test_env_values_are_what_redaction_masks(tmp_path: Path) -> None:
    entries = yamlread.load([write(tmp_path, FILE)], cache=False)
    assert env_values(entries) == set()  # as read: expressions, no value
    resolved = resolve(entries, ENV)
    values = env_values(resolved)
    assert ENV["PAGER_URL"] in values and f"https://events.example.com/{SECRET}/{SECRET}?a=x" in values
    assert SECRET not in values and SECRET in env_values(resolved, ENV)  # each variable's own value too
    assert "" not in env_values(resolve(entries, ENV | {"OTHER": ""}), ENV | {"OTHER": ""})


# ---- the cache holds expressions only ----


def test_the_cache_round_trips_expressions_and_never_holds_a_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    path = write(tmp_path, FILE)
    store = FileCache(tmp_path / "cache", tmp_path / "key")
    cold = yamlread.load([path], cache=store)
    warm = yamlread.load([path], cache=store)
    assert [(e.kind, e.fields, e.env) for e in warm] == [(e.kind, e.fields, e.env) for e in cold]
    assert warm[0].env == {"dest.title": "Costs $$100, $5 and ${CURRENCY}$$", "dest.recipients.1": "${ONCALL}"}
    resolve(warm, ENV)
    (entry,) = store.directory.glob("*.entry")
    blob = entry.read_bytes()
    assert b"${PAGER_URL}" in blob and SECRET.encode() not in blob and b"pagerduty" not in blob


def test_a_resolved_entry_is_never_stored(tmp_path: Path) -> None:
    path = write(tmp_path, FILE)
    entries = yamlread.load([path], cache=False)
    assert filecache.encode_entry("k" * 64, str(path), entries, b"secret") is not None
    assert filecache.encode_entry("k" * 64, str(path), resolve(entries, ENV), b"secret") is None
