"""`plan` and a saved plan with data alerts beside schedules, against the sandbox, in process: each
change says its kind, a webhook endpoint from the environment never shows in any format or in the
saved plan, and `apply` of the saved plan refuses a variable that is now unset or changed (naming
it) and sends the value when it is the same.

Needs the sandbox to serve `/data_alerts` and the YAML to hold `alerts:` (other branches of issue 19):
skipped, saying so, until both are there.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.kinds.alerts import ALERTS
from reconciler.remote.client import HolisticsClient, NotFound
from reconciler.sandbox import Sandbox
from tests.helpers import invoke, write_schedules

SECRET = "s3cr3t-pd-integration-k3y"
YAML = """\
schedules:
  weekly:
    source_type: Dashboard
    source_id: 1234
    schedule: {repeat: "0 8 * * 1"}
    dest: {type: EmailDest, recipients: [a@example.com]}
alerts:
  page_oncall:
    title: Revenue drop
    source_type: VizBlock
    source_id: "v-12"
    schedule: {repeat: "0 * * * *"}
    viz_conditions:
      - field_path: {field_name: revenue}
        condition: {operator: less_than, values: [1000]}
    dest:
      type: WebhookDest
      endpoint: "https://events.pagerduty.com/integration/${PD_KEY}/enqueue"
"""


@pytest.fixture
def alert_sandbox() -> Iterator[Sandbox]:
    if importlib.util.find_spec("reconciler.desired.envvalues") is None:
        pytest.skip("the YAML cannot hold alerts or values from the environment yet (desired branch not merged)")
    with Sandbox(seed="empty") as sb:
        with HolisticsClient(sb.base_url, sb.key) as client:
            try:
                list(client.list(ALERTS))
            except NotFound:
                pytest.skip("the sandbox does not serve /data_alerts yet (sandbox branch not merged)")
        yield sb


def test_plan_shows_each_kind_and_never_the_value_from_the_environment(
    alert_sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_schedules(tmp_path, YAML)
    monkeypatch.setenv("PD_KEY", SECRET)
    text = invoke(alert_sandbox, "plan", cwd=tmp_path)
    assert text.exit_code == 0, text.output
    assert "# alert page_oncall will be created" in text.output and "# weekly will be created" in text.output
    assert "${PD_KEY}" in text.output
    as_json = invoke(alert_sandbox, "plan", "--json", cwd=tmp_path)
    data = json.loads(as_json.output)
    assert {c["key"]: c["kind"] for c in data["changes"]} == {"weekly": "schedules", "page_oncall": "alerts"}
    markdown = invoke(alert_sandbox, "plan", "--format", "markdown", cwd=tmp_path)
    for out in (text.output, as_json.output, markdown.output):
        assert SECRET not in out
    monkeypatch.delenv("PD_KEY")
    unset = invoke(alert_sandbox, "plan", cwd=tmp_path)
    assert (
        unset.exit_code == 1
        and "PD_KEY" in unset.output
        and not [r for r in alert_sandbox.control.requests() if r["method"] == "POST"]
    )


def test_a_saved_plan_is_applied_only_with_the_same_environment(
    alert_sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_schedules(tmp_path, YAML)
    monkeypatch.setenv("PD_KEY", SECRET)
    made = invoke(alert_sandbox, "plan", "--out", "plan.json", cwd=tmp_path)
    assert made.exit_code == 0, made.output
    saved = (tmp_path / "plan.json").read_text()
    assert SECRET not in saved and "${PD_KEY}" in saved
    monkeypatch.setenv("PD_KEY", "another-k3y")
    changed = invoke(alert_sandbox, "apply", "plan.json", cwd=tmp_path)
    assert changed.exit_code == 1 and "${PD_KEY}" in changed.output and "another-k3y" not in changed.output
    monkeypatch.delenv("PD_KEY")
    unset = invoke(alert_sandbox, "apply", "plan.json", cwd=tmp_path)
    assert unset.exit_code == 1 and "not set" in unset.output
    monkeypatch.setenv("PD_KEY", SECRET)
    applied = invoke(alert_sandbox, "apply", "plan.json", cwd=tmp_path)
    assert applied.exit_code == 0, applied.output
    assert SECRET not in applied.output
    with HolisticsClient(alert_sandbox.base_url, alert_sandbox.key) as client:
        (alert,) = list(client.list(ALERTS))
    assert alert["dest"]["endpoint"] == f"https://events.pagerduty.com/integration/{SECRET}/enqueue"


def test_a_saved_plan_with_env_values_keys_its_workspace_fingerprints_and_names_another_api_key(
    alert_sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Hostile round: a plain hash of a workspace item that holds the value would let the plan file
    test guesses of it offline; and under another API key, say so rather than "another value"."""
    from click.testing import CliRunner

    from reconciler.cli import cli as click_group

    write_schedules(tmp_path, YAML)
    monkeypatch.setenv("PD_KEY", SECRET)
    assert invoke(alert_sandbox, "apply", "--auto-approve", cwd=tmp_path).exit_code == 0
    assert invoke(alert_sandbox, "plan", "--out", "plan.json", cwd=tmp_path).exit_code == 0
    saved = json.loads((tmp_path / "plan.json").read_text())["saved_plan"]
    assert saved["key_check"] and all(
        fingerprint.startswith("hmac-sha256:") for kind in saved["remote"].values() for fingerprint in kind.values()
    )
    monkeypatch.chdir(tmp_path)
    env = {"NO_COLOR": "1", "HOLISTICS_BASE_URL": alert_sandbox.base_url, "HOLISTICS_API_KEY": "another-api-key-0000"}
    other = CliRunner().invoke(click_group, ["apply", "plan.json"], env=env)
    assert other.exit_code == 1 and "another API key" in other.output, other.output
    assert not [r for r in alert_sandbox.control.requests() if r["method"] in ("POST", "PUT", "DELETE")][2:]


def test_a_workspace_text_that_holds_an_env_value_is_never_printed(
    alert_sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Hostile round: an unmanaged alert whose title is a value the YAML takes from the environment
    (a copy made in the UI) is named without it, in every format and on --prune."""
    write_schedules(tmp_path, YAML.replace("title: Revenue drop", 'title: "${TITLE_SECRET}"'))
    monkeypatch.setenv("PD_KEY", SECRET)
    monkeypatch.setenv("TITLE_SECRET", "t1tle-s3cr3t-value")
    alert_sandbox.control.add_alert(
        {
            "title": "t1tle-s3cr3t-value",
            "source_type": "DashboardWidget",
            "source_id": 5,
            "schedule": {"repeat": "0 * * * *", "paused": False},
            "dynamic_filter_presets": [],
            "viz_conditions": [{"field_path": {"field_name": "x"}, "condition": {"operator": "is_null", "values": []}}],
            "dest": {"type": "EmailDest", "recipients": ["a@example.com"]},
        }
    )
    for args in (("plan",), ("plan", "--json"), ("plan", "--format", "markdown"), ("plan", "--prune")):
        out = invoke(alert_sandbox, *args, cwd=tmp_path).output
        assert "t1tle-s3cr3t-value" not in out and SECRET not in out, args
