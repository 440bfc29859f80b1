"""`plan` starts reading the workspace before the config's models and the YAML code load (issue 22),
when the config cannot change the client: the real CLI in a subprocess, against the real sandbox.
The first request is caught in the child by a wrapper of the client's one request method, which
writes down what was loaded by then."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.sandbox import Sandbox
from tests.helpers import EMAIL, cli_env, write_schedules

PROBE = """
import json, os, sys
from reconciler.remote.client import api
send, seen = api.HolisticsClient._request, []
def first(self, method, path, **kwargs):
    if not seen:
        seen.append(path)
        with open(os.environ["PROBE_OUT"], "w") as out:
            json.dump({"path": path, "pydantic": "pydantic" in sys.modules, "url": self.base_url}, out)
    return send(self, method, path, **kwargs)
api.HolisticsClient._request = first
sys.argv[0] = "holistics-schedules"
from reconciler.entry import main
main()
"""
PROMPT_S = 20  # far above a normal run; a command that waited for a stalled read would reach it


def run(
    sb: Sandbox, tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> tuple[int, str, dict[str, object]]:
    out = tmp_path / "probe.json"
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        cwd=tmp_path,
        env=cli_env(sb, env={"PROBE_OUT": str(out), **(env or {})}),
        capture_output=True,
        text=True,
        timeout=PROMPT_S,
    )
    probe = json.loads(out.read_text()) if out.exists() else {}
    return result.returncode, result.stdout + result.stderr, probe


@pytest.fixture
def sb() -> Sandbox:
    with Sandbox(seed="example") as sandbox:
        yield sandbox


def test_the_listing_starts_before_the_config_models_and_the_yaml_code_load(sb: Sandbox, tmp_path: Path) -> None:
    write_schedules(tmp_path / "schedules", EMAIL)
    (tmp_path / "holistics-schedules.yml").write_text("safety: {max_change_share: 1.0}\n", encoding="utf-8")
    code, output, probe = run(sb, tmp_path, "plan", "--detailed-exitcode")
    assert code == 2, output
    assert probe["pydantic"] is False, probe
    assert "Plan:" in output


@pytest.mark.parametrize(
    "config",
    [
        "connection: {rate_limit: none}\n",
        '"\\x63onnection": {rate_limit: none}\n',  # spelt by escapes
        "# Connection settings come from the environment\n",  # the word alone is enough to wait
        "paths: [schedules]\n",  # which files are read: they are found before any request
    ],
    ids=["connection", "escaped", "the-word", "paths"],
)
def test_a_config_that_may_set_the_connection_is_read_before_any_request(
    sb: Sandbox, tmp_path: Path, config: str
) -> None:
    write_schedules(tmp_path / "schedules", EMAIL)
    (tmp_path / "holistics-schedules.yml").write_text(config, encoding="utf-8")
    code, output, probe = run(sb, tmp_path, "plan", "--detailed-exitcode")
    assert code == 2, output
    assert probe["pydantic"] is True, probe


def test_the_configs_base_url_is_where_every_request_goes(sb: Sandbox, tmp_path: Path) -> None:
    """The environment names no server; the config (spelt with escapes) does: no request goes to the
    default host first, and the plan is made from the config's."""
    write_schedules(tmp_path / "schedules", EMAIL)
    config = f'"\\x63onnection": {{base_url: "{sb.base_url}"}}\n'
    (tmp_path / "holistics-schedules.yml").write_text(config, encoding="utf-8")
    env = cli_env(sb)
    env.pop("HOLISTICS_BASE_URL")
    out = tmp_path / "probe.json"
    result = subprocess.run(
        [sys.executable, "-c", PROBE, "plan", "--detailed-exitcode"],
        cwd=tmp_path,
        env={**env, "PROBE_OUT": str(out)},
        capture_output=True,
        text=True,
        timeout=PROMPT_S,
    )
    assert result.returncode == 2, result.stderr
    assert json.loads(out.read_text())["url"] == sb.base_url


def test_an_invalid_config_is_said_at_once_while_the_listing_stalls(sb: Sandbox, tmp_path: Path) -> None:
    """The listing started before the config was read; the config is wrong: its problem is said, exit
    1, nothing written, and the command does not wait for the stalled read."""
    write_schedules(tmp_path / "schedules", EMAIL)
    (tmp_path / "holistics-schedules.yml").write_text("safety: {max_change_share: lots}\n", encoding="utf-8")
    sb.control.add_fault("GET", "/data_schedules", status=None, count=None, delay_ms=300_000)
    code, output, probe = run(sb, tmp_path, "plan")
    assert code == 1, output
    assert "holistics-schedules.yml:1: safety.max_change_share" in output and "Traceback" not in output
    assert "1 problem in the config file; nothing was changed" in output  # reads were sent: not "nothing was sent"
    assert probe["path"] in ("/data_schedules", "/dashboards/list_metadata", "/data_alerts")
    assert [r for r in sb.control.requests() if r["method"] != "GET"] == []


@pytest.mark.parametrize(
    "args",
    [("plan", "missing.yml"), ("plan", "--prune", "schedules/main.yml"), ("plan",)],
    ids=["a-missing-path", "a-refused-prune", "no-schedules-folder"],
)
def test_what_a_plan_says_before_any_request_still_comes_before_any(
    sb: Sandbox, tmp_path: Path, args: tuple[str, ...]
) -> None:
    if "--prune" in args:
        write_schedules(tmp_path / "schedules", EMAIL)
        write_schedules(tmp_path / "schedules", EMAIL.replace("weekly-sales", "other"), name="other.yml")
    code, output, probe = run(sb, tmp_path, *args)
    assert code == 1, output
    assert probe == {} and sb.control.requests() == []


def test_a_config_read_before_any_request_says_nothing_was_sent(sb: Sandbox, tmp_path: Path) -> None:
    write_schedules(tmp_path / "schedules", EMAIL)
    (tmp_path / "holistics-schedules.yml").write_text("connection: {region: mars}\n", encoding="utf-8")
    code, output, probe = run(sb, tmp_path, "plan")
    assert code == 1 and "1 problem in the config file; nothing was sent" in output, output
    assert probe == {} and sb.control.requests() == []


SWAP = """
import os, sys
from reconciler.cli import options, plan
def swap():  # the file changes under the command (a checkout, an editor's save, a prank)
    if os.environ["SWAP_TO"] == "fifo":
        os.remove("holistics-schedules.yml")
        os.mkfifo("holistics-schedules.yml")
    else:
        os.replace(os.environ["SWAP_TO"], "holistics-schedules.yml")
if os.environ["SWAP_WHEN"] == "before":  # before anything of the command looks at the config
    first = plan._nothing_said_first
    plan._nothing_said_first = lambda *args: (swap(), first(*args))[1]
else:  # once the client to start the reads with is decided
    early = options.Connect.early
    options.Connect.early = lambda self: (early(self), swap())[0]
sys.argv[0] = "holistics-schedules"
from reconciler.entry import main
main()
"""


def run_swapping(sb: Sandbox, tmp_path: Path, to: str, when: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", SWAP, *args],
        cwd=tmp_path,
        env=cli_env(sb, env={"SWAP_TO": to, "SWAP_WHEN": when}),
        capture_output=True,
        text=True,
        timeout=PROMPT_S,
    )


def test_the_config_judged_is_the_config_used_though_the_file_changes(sb: Sandbox, tmp_path: Path) -> None:
    """Read once: what decided the early start is what the plan is made from. A `connection:` written
    in between could otherwise have had the key sent where the config, as read, says not to; here the
    change is one the plan shows (the zone its crons are read in)."""
    write_schedules(tmp_path / "schedules", EMAIL)
    (tmp_path / "holistics-schedules.yml").write_text("safety: {max_change_share: 1.0}\n", encoding="utf-8")
    swap = tmp_path / "swap.yml"
    swap.write_text("connection: {rate_limit: none}\ntimezone: Asia/Tokyo\n", encoding="utf-8")
    result = run_swapping(sb, tmp_path, str(swap), "after", "plan", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["timezone"] == "UTC"
    assert "Asia/Tokyo" in (tmp_path / "holistics-schedules.yml").read_text()  # the swap happened


def test_a_config_turned_into_a_fifo_is_refused_not_waited_for(sb: Sandbox, tmp_path: Path) -> None:
    write_schedules(tmp_path / "schedules", EMAIL)
    (tmp_path / "holistics-schedules.yml").write_text("safety: {max_change_share: 1.0}\n", encoding="utf-8")
    result = run_swapping(sb, tmp_path, "fifo", "before", "plan")
    assert result.returncode == 1 and "not a regular file" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and sb.control.requests() == []
