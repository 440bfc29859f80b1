"""The command group imports a command's module only when that command runs (issue 22): `plan` starts
its listing without paying for audit, apply or the sandbox. These tests keep that from regressing
silently, and keep --help listing every command."""

from __future__ import annotations

import importlib
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import click

import reconciler.cli
from reconciler.cli import COMMANDS
from reconciler.sandbox import Sandbox
from tests.helpers import EMAIL, cli, cli_env, invoke, write_schedules

OTHER_COMMANDS = [
    "reconciler.cli.apply",
    "reconciler.cli.audit",
    "reconciler.cli.demo",
    "reconciler.cli.import_cmd",
    "reconciler.cli.run",
    "reconciler.cli.schema",
    "reconciler.cli.show",
    "reconciler.cli.validate",
    "reconciler.cli.walkthrough",
    "reconciler.sandbox",
    "reconciler.sandbox.server",
    "reconciler.usecases.applying",
    "reconciler.usecases.auditing",
    "reconciler.usecases.importing",
    "reconciler.usecases.running",
    "reconciler.views.apply_view",
    "reconciler.views.audit_model",
]
"""Modules only commands other than `plan` need."""


def loaded_after(code: str, *, env: dict[str, str] | None = None, cwd: Path | None = None) -> set[str]:
    """The modules a fresh interpreter has loaded once it ran `code` (which may exit)."""
    dump = "print('\\n' + json.dumps(sorted(sys.modules)))"  # on a line of its own, after what `code` printed
    script = f"import json, sys\ntry:\n    {code}\nexcept SystemExit:\n    pass\n{dump}"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env, cwd=cwd, check=True
    )
    return set(json.loads(done.stdout.splitlines()[-1]))


def test_importing_the_cli_imports_no_command_nor_the_models() -> None:
    loaded = loaded_after("import reconciler.cli")
    assert not {*OTHER_COMMANDS, "reconciler.cli.plan"} & loaded
    assert not {m for m in loaded if m.startswith(("reconciler.usecases", "reconciler.remote", "reconciler.kinds"))}
    assert not {"pydantic", "requests", "rich", "ruamel.yaml"} & loaded, "--version and usage errors pay for none"


def test_a_plan_imports_no_other_command(sandbox: Sandbox, tmp_path: Path) -> None:
    write_schedules(tmp_path, EMAIL)
    env = cli_env(sandbox)
    run = "from reconciler.cli import main; main(['plan', '--format', 'markdown'])"
    loaded = loaded_after(run, env=env, cwd=tmp_path)
    assert "reconciler.usecases.planning" in loaded and "reconciler.views.plan_markdown" in loaded, "it planned"
    assert not set(OTHER_COMMANDS) & loaded
    assert "reconciler.views.plan_json" not in loaded, "only the view of the format printed"


def test_help_lists_every_command_with_its_short_help(tmp_path: Path) -> None:
    shown = cli(None, "--help", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    listing = shown.stdout.split("Commands:\n", 1)[1].splitlines()
    rows = dict(line.strip().split(maxsplit=1) for line in listing if line.strip())
    assert list(rows) == sorted(COMMANDS)
    group = reconciler.cli.cli
    with click.Context(group) as ctx:
        for name, short in rows.items():
            command = group.get_command(ctx, name)
            assert command is not None and command.name == name
            assert command.get_short_help_str(limit=500).startswith(short.removesuffix("...")), name


def test_every_command_defined_is_in_the_table() -> None:
    """A new command's module is found only through `COMMANDS`: one missing from it would vanish."""
    defined: set[str] = set()
    modules = [f"reconciler.cli.{m.name}" for m in pkgutil.iter_modules(reconciler.cli.__path__)]
    for name in [*modules, "reconciler.sandbox.command"]:
        for value in vars(importlib.import_module(name)).values():
            if isinstance(value, click.Command) and value is not reconciler.cli.cli and value.name:
                defined.add(value.name)
    assert defined == set(COMMANDS)


def test_a_plan_outlives_its_command_so_the_exit_frees_nothing(sandbox: Sandbox, tmp_path: Path) -> None:
    """The console script ends with `os._exit` (`entry._exit_now`): the plan is kept rather than freed
    object by object as the command returns (50 ms at 10,000 schedules); only the last one is kept."""
    import reconciler.cli.plan as plan_command

    write_schedules(tmp_path, EMAIL)
    for _ in range(2):
        assert invoke(sandbox, "plan", "--json", cwd=tmp_path).exit_code == 0
    [kept] = plan_command._KEPT
    assert "weekly-sales" in {c.key for c in kept.plan.changes}
