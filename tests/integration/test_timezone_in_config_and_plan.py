"""The `timezone` config key, and the plan that shows next runs and DST warnings in that zone: through
the CLI, in process and as a subprocess, against the sandbox."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from reconciler.sandbox import Sandbox
from reconciler.usecases import config as configuration
from reconciler.views import cron_words
from tests.helpers import cli, invoke, write_schedules

NOW = datetime(2026, 12, 7, 6, 0, tzinfo=UTC)  # a Monday; 07:00 in Berlin, 01:00 in New York


@pytest.fixture(autouse=True)
def _pinned_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cron_words, "now", lambda: NOW)


# ---- config ----


def test_the_zone_defaults_to_utc_and_takes_iana_names(tmp_path: Path) -> None:
    assert configuration.ProjectConfig().timezone == "UTC"
    path = tmp_path / "holistics-schedules.yml"
    path.write_text("timezone: America/New_York\n")
    assert configuration.load(path).timezone == "America/New_York"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("Europe/Berln", "timezone: 'Europe/Berln' is not an IANA time zone name (did you mean 'Europe/Berlin'?)"),
        ("europe/berlin", "(did you mean 'Europe/Berlin'?)"),
        ("CEST", "timezone: 'CEST' is not an IANA time zone name"),
        ("localtime", "timezone: 'localtime' is not an IANA time zone name"),  # this machine's zone, not a name
        ("../../etc/passwd", "is not an IANA time zone name"),
        ("''", "timezone: '' is not an IANA time zone name"),
        ("5", "timezone: must be text (a string)"),  # the tool's words, not pydantic's (issue 12)
        ("[UTC]", "timezone: must be text (a string)"),
    ],
)
def test_a_bad_zone_is_a_config_error_naming_the_key(tmp_path: Path, value: str, message: str) -> None:
    write_schedules(tmp_path, "schedules: {}\n")
    (tmp_path / "holistics-schedules.yml").write_text(f"timezone: {value}\n")
    result = invoke(None, "validate", cwd=tmp_path)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"holistics-schedules.yml:1: {message}" in result.output or message in result.output
    assert "holistics-schedules.yml:1: timezone: " in result.output  # file:line: path, as schedule files


# ---- end to end ----

NIGHTLY = """\
schedules:
  nightly-ops:
    source_type: QueryReport
    source_id: 5301
    schedule: {repeat: "30 2 * * *"}
    dest: {type: GsheetDest, sheet_url: "https://docs.google.com/spreadsheets/d/x", sheet_title: Orders}
"""


def _expected_now_lines(expression: str, zone: str) -> tuple[str, ...]:
    """What the real clock gives, now and in a minute: the subprocess runs between the two."""
    instant = datetime.now(UTC)
    return tuple(cron_words.when_line(expression, zone, after=instant + timedelta(minutes=m)) for m in (0, 1))


@pytest.mark.slow
def test_plan_shows_the_zone_next_runs_and_dst_warning_end_to_end(sandbox: Sandbox, tmp_path: Path) -> None:
    write_schedules(tmp_path, NIGHTLY)
    (tmp_path / "holistics-schedules.yml").write_text("timezone: Europe/Berlin\n")
    before = _expected_now_lines("30 2 * * *", "Europe/Berlin")
    result = cli(sandbox, "plan", cwd=tmp_path)
    after = _expected_now_lines("30 2 * * *", "Europe/Berlin")
    assert result.returncode == 0, result.stderr
    line = next(x for x in result.stdout.splitlines() if "schedule.repeat" in x)
    assert line.startswith('    + schedule.repeat: "30 2 * * *"  (At 02:30; next: ')
    assert any(f"; {w};" in line for w in (*before, *after)), line
    assert re.search(r"next: \w{3} \d{4}-\d\d-\d\d 0[23]:[03]0, .* Europe/Berlin; DST: ", line)
    # the real clock: the next spring-forward and fall-back in Berlin, whichever comes first
    real = datetime.now(UTC)
    changes = cron_words.clock_changes("Europe/Berlin", real)
    spring = next(c for c in changes if c.forward).at.date()
    autumn = next(c for c in changes if not c.forward).at.date()
    assert f"DST: 02:30 is skipped on {spring} (clocks go forward 02:00 -> 03:00): runs at 03:00 instead" in line
    assert f"DST: 02:30 happens twice on {autumn} (clocks go back 03:00 -> 02:00): runs once, at 02:30 CEST" in line

    markdown = cli(sandbox, "plan", "--format", "markdown", cwd=tmp_path)
    assert markdown.returncode == 0, markdown.stderr
    assert "Europe/Berlin; DST: 02:30 is skipped on" in markdown.stdout

    # without the key, the same plan is read in UTC: no warning
    (tmp_path / "holistics-schedules.yml").unlink()
    utc = cli(sandbox, "plan", cwd=tmp_path)
    assert utc.returncode == 0 and " UTC)" in utc.stdout and "DST" not in utc.stdout and "Europe" not in utc.stdout


def test_a_changed_cron_in_a_zone_in_process_with_the_clock_pinned(example_sandbox: Sandbox, tmp_path: Path) -> None:
    remote = {s["id"]: s for s in example_sandbox.control.schedules()}
    target = remote[4812]
    entry = {
        "id": 4812,
        "source_type": target["source_type"],
        "source_id": target["source_id"],
        "schedule": {"repeat": "30 1 * * *", "paused": target["schedule"]["paused"]},
        "dest": {"type": target["dest"]["type"]}
        | ({"recipients": target["dest"]["recipients"]} if "recipients" in target["dest"] else {}),
    }
    write_schedules(tmp_path, json.dumps({"schedules": {"changed": entry}}))
    (tmp_path / "holistics-schedules.yml").write_text("timezone: America/New_York\n")
    result = invoke(example_sandbox, "plan", "--out", "plan.json", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    # the old and the new meaning each on its own line (issue 12), the new one with its runs
    expected = (
        f'~ schedule.repeat: "{target["schedule"]["repeat"]}" -> "30 1 * * *"\n'
        f"        was: {cron_words.cron_in_words(target['schedule']['repeat'])}\n"
        "        now: At 01:30; "
        "next: Mon 2026-12-07 01:30, Tue 2026-12-08 01:30, Wed 2026-12-09 01:30 America/New_York; "
        "DST: 01:30 happens twice on 2027-11-07 (clocks go back 02:00 -> 01:00): runs once, at 01:30 EDT\n"
    )
    assert expected in result.output
    # the saved plan carries the zone: apply shows the same line without reading the config again
    (tmp_path / "holistics-schedules.yml").unlink()
    applied = invoke(example_sandbox, "apply", "plan.json", "--auto-approve", cwd=tmp_path)
    assert applied.exit_code == 0, applied.output
    assert expected in applied.output
