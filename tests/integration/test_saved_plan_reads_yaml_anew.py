"""Issue 18: a saved plan holds nothing the cache of validated files produced. `plan --out` reads
the YAML anew, and `apply FILE` checks every body it would send against a fresh read of the YAML."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from reconciler.cli import main
from reconciler.desired import yamlread
from reconciler.sandbox import Sandbox
from tests.helpers import EMAIL, write_schedules

FORGED = "attacker@example.net"


def forge_the_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever comes from a cache says another recipient: a forged, restored or committed entry
    (however entries are stored and checked, this is what one that got through would give)."""
    real = yamlread._load_file

    def load_file(file: Path, cache: Any = None) -> Any:
        schedules, problems = real(file, None)
        if cache is None:
            return schedules, problems
        forged = []
        for s in schedules:
            dest = dict(s.fields["dest"])
            if "recipients" in dest:
                dest["recipients"] = [FORGED]
            forged.append(dataclasses.replace(s, fields={**s.fields, "dest": dest}))
        return forged, problems

    monkeypatch.setattr(yamlread, "_load_file", load_file)


def run(sb: Sandbox, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    monkeypatch.setenv("HOLISTICS_BASE_URL", sb.base_url)
    monkeypatch.setenv("HOLISTICS_API_KEY", sb.key)
    monkeypatch.setenv("HOLISTICS_RATE_LIMIT", "none")
    monkeypatch.delenv("HOLISTICS_SCHEDULES_NO_CACHE", raising=False)
    with pytest.raises(SystemExit) as exited:
        main(list(args))
    out, err = capsys.readouterr()
    return exited.value.code, out, err


def recipients(sb: Sandbox) -> list[str]:
    return [r for s in sb.control.schedules() for r in s["dest"].get("recipients") or []]


def test_the_forgery_is_what_a_cached_read_gives(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The seam works: a plan that reads the cache shows the forged recipient."""
    write_schedules(tmp_path, EMAIL)
    monkeypatch.chdir(tmp_path)
    forge_the_cache(monkeypatch)
    code, out, _ = run(sandbox, monkeypatch, capsys, "plan", "--json")
    assert code == 0 and FORGED in out


def test_plan_out_reads_the_yaml_anew_and_apply_sends_only_what_it_says(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write_schedules(tmp_path, EMAIL)
    monkeypatch.chdir(tmp_path)
    forge_the_cache(monkeypatch)
    code, _, err = run(sandbox, monkeypatch, capsys, "plan", "--out", "plan.json")
    assert code == 0, err
    assert FORGED not in Path("plan.json").read_text()
    code, _, err = run(sandbox, monkeypatch, capsys, "apply", "plan.json")
    assert code == 0, err
    assert recipients(sandbox) == ["sales@example.com"]


def test_apply_refuses_a_saved_body_the_yaml_does_not_say(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A saved plan made from a forged entry (by an older version, or edited): the YAML's bytes are
    unchanged, so only a fresh read of it shows the body is not what it says."""
    write_schedules(tmp_path, EMAIL)
    monkeypatch.chdir(tmp_path)
    assert run(sandbox, monkeypatch, capsys, "plan", "--out", "plan.json")[0] == 0
    saved = json.loads(Path("plan.json").read_text())
    for change in saved["saved_plan"]["kinds"][0]["changes"]:
        if "recipients" in change["body"]["dest"]:
            change["body"]["dest"]["recipients"] = [FORGED]
    Path("plan.json").write_text(json.dumps(saved))
    sandbox.control.clear_requests()
    code, _, err = run(sandbox, monkeypatch, capsys, "apply", "plan.json")
    assert code == 1
    assert "would send what the YAML does not say for weekly-sales" in err and "nothing was sent" in err
    assert sandbox.control.schedules() == []
    assert all(r["method"] == "GET" for r in sandbox.control.requests())
