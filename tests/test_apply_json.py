"""`apply --json`: JSON Lines on stdout, an object per change as it completes and a summary last,
in process against the sandbox, and as a subprocess that imports neither rich nor ruamel."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from reconciler.cli import main
from reconciler.sandbox import Sandbox
from tests.test_e2e import EMAIL, write_schedules


def apply_json(sb: Sandbox, cwd: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Any:
    monkeypatch.chdir(cwd)
    for name in ("HOLISTICS_REGION", "HOLISTICS_SCHEDULES_NO_CACHE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOLISTICS_BASE_URL", sb.base_url)
    monkeypatch.setenv("HOLISTICS_API_KEY", sb.key)
    monkeypatch.setenv("HOLISTICS_RATE_LIMIT", "none")
    with pytest.raises(SystemExit) as exited:
        main(["apply", "--auto-approve", "--json"])
    out, err = capsys.readouterr()
    return exited.value.code, [json.loads(line) for line in out.splitlines()], err


def test_one_object_per_change_then_the_ids_then_the_summary(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write_schedules(tmp_path, EMAIL)
    sandbox.control.add_fault("POST", "/data_schedules", status=422, count=1)  # the first create is refused
    code, objects, err = apply_json(sandbox, tmp_path, monkeypatch, capsys)
    assert code == 1
    assert err == "", "nothing but JSON is printed for a failed change"
    changes = [o for o in objects if o["type"] == "change"]
    assert sorted(o["key"] for o in changes) == ["ops-sheet", "weekly-sales"]
    assert all(o["kind"] == "schedule" and o["action"] == "create" for o in changes)
    failed = [o for o in changes if o["outcome"] == "failed"]
    applied = [o for o in changes if o["outcome"] == "applied"]
    assert len(failed) == 1 and failed[0]["id"] is None and failed[0]["message"]
    assert failed[0]["errors"] and failed[0]["errors"][0]["file"] == "schedules/main.yml"
    assert len(applied) == 1 and isinstance(applied[0]["id"], int) and applied[0]["message"] == "created"
    assert [o["type"] for o in objects] == ["change", "change", "recorded", "summary"]
    recorded = objects[2]
    assert recorded == {
        "type": "recorded",
        "kind": "schedule",
        "file": "schedules/main.yml",
        "key": applied[0]["key"],
        "id": applied[0]["id"],
    }
    summary = objects[-1]
    assert summary["changes"] == 2 and summary["applied"] == 1 and summary["failed"] == 1
    assert summary["recorded"] == 1 and summary["unrecorded"] == 0 and summary["complete"] is False

    code, objects, err = apply_json(sandbox, tmp_path, monkeypatch, capsys)  # the rest, then nothing
    assert code == 0 and [o["type"] for o in objects] == ["change", "recorded", "summary"]
    assert objects[-1]["complete"] is True
    code, objects, err = apply_json(sandbox, tmp_path, monkeypatch, capsys)
    assert code == 0 and objects == [
        {
            "type": "summary",
            "kind": "schedule",
            "changes": 0,
            "applied": 0,
            "failed": 0,
            "recorded": 0,
            "unrecorded": 0,
            "complete": True,
            "by_action": {},
        }
    ]


def test_an_error_that_stops_the_apply_is_an_object_too(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write_schedules(tmp_path, EMAIL)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exited:
        main(["apply", "--json", "--base-url", sandbox.base_url, "--api-key", sandbox.key])  # no --auto-approve
    out, err = capsys.readouterr()
    assert exited.value.code == 1 and "Error: apply --json asks no question" in err
    assert [json.loads(line)["type"] for line in out.splitlines()] == ["error"]
    assert sandbox.control.schedules() == []


def test_a_subprocess_prints_json_lines_without_importing_rich_or_ruamel(sandbox: Sandbox, tmp_path: Path) -> None:
    write_schedules(tmp_path, EMAIL)
    probe = (
        "import sys, json\n"
        "from reconciler.cli import main\n"
        "try:\n    main(sys.argv[1:])\n"
        "except SystemExit as exc:\n"
        "    loaded = sorted({m.split('.')[0] for m in sys.modules} & {'rich', 'ruamel'})\n"
        "    sys.stderr.write('LOADED ' + json.dumps(loaded) + '\\n')\n"
        "    raise\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOLISTICS_")}
    env |= {"HOLISTICS_BASE_URL": sandbox.base_url, "HOLISTICS_API_KEY": sandbox.key, "HOLISTICS_RATE_LIMIT": "none"}
    done = subprocess.run(
        [sys.executable, "-c", probe, "apply", "--auto-approve", "--json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == "LOADED []"
    lines = done.stdout.splitlines()
    assert all(line.isascii() and "\n" not in json.loads(json.dumps(line)) for line in lines)
    objects = [json.loads(line) for line in lines]
    assert [o["type"] for o in objects] == ["change", "change", "recorded", "recorded", "summary"]
    assert objects[-1]["applied"] == 2 and len(sandbox.control.schedules()) == 2
