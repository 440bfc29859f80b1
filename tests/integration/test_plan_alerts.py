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
