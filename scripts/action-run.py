#!/usr/bin/env python3
"""The logic of the GitHub Action (action.yml): run one holistics-schedules command the way a pull
request, a merge or the nightly check needs it, and turn what it prints into what GitHub shows:
step outputs, the job summary, `::error` annotations on the YAML lines, and the markdown of the
plan comment's error and of the report on the merged pull request.

    action-run.py run                  # action.yml's step: reads its inputs from HS_* variables
    action-run.py annotate [--cwd D]   # CLI output on stdin -> one ::error line per problem
    action-run.py report               # `apply --json` output on stdin -> the markdown report

Standard library only, and no import of the tool: it drives the tool's command line
(`python -m reconciler`, the interpreter running this file) exactly as a person would, so the
action depends on nothing but the CLI's documented outputs: `validate --format github` (or its
`file:line: key.path: message` form) and `apply --json`, whose objects it reads, never its English.
Everything from the network it prints to the log is made inert first (see `inert`).
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import secrets
import shlex
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

COMMANDS = ("validate", "plan", "apply", "drift", "audit")
ZERO_SHA = "0" * 40
SUMMARY_LIMIT = 1_000_000  # bytes; GitHub takes at most 1 MiB of job summary per step
COMMENT_BUDGET = 60_000  # characters of report; GitHub's comment limit is 65,536 with the frame around it
ERROR_LINES = 50  # of a failed command's output, shown in the summary and the comment
LISTED = 100  # schedules named one by one per kind in a report; past that, a count
DEPENDABOT = "dependabot[bot]"

# ---- GitHub's workflow commands ----------------------------------------------------------------

_ESCAPES = {"%": "%25", "\r": "%0D", "\n": "%0A", ":": "%3A", ",": "%2C"}
_UNESCAPES = {v: k for k, v in _ESCAPES.items()}


def escape_data(text: str) -> str:
    """A command's message: `%`, CR and LF escaped, as the runner requires."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A property value (file=, title=): the message escapes plus `:` and `,`, which end a value."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def unescape(text: str) -> str:
    """The inverse of both escapes, in one pass (so `%253A` becomes `%3A`, not `:`)."""
    return re.sub(r"%(?:25|0D|0A|3A|2C)", lambda m: _UNESCAPES[m.group()], text)


@dataclass(frozen=True, order=True)
class Problem:
    """One problem the CLI reported: where (file relative to the repository root) and what."""

    file: str | None
    line: int | None
    title: str
    message: str

    def command(self) -> str:
        props = []
        if self.file:
            props.append(f"file={escape_property(self.file)}")
            if self.line:
                props.append(f"line={self.line}")
        props.append(f"title={escape_property(self.title)}")
        return f"::error {','.join(props)}::{escape_data(self.message)}"

    def text(self) -> str:
        where = f"{self.file}:{self.line}" if self.file and self.line else self.file or ""
        return f"{where}: {self.title}: {self.message}" if where else f"{self.title}: {self.message}"


_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
# `file:line: key.path: message`: the form of every problem the CLI prints (validate, a plan's bad
# input, a 422 under an apply's failure); a key path never holds a space or a colon
_TEXT_PROBLEM = re.compile(r"^\s*(?P<file>[^\s:][^:\n]*?):(?P<line>\d+): (?P<path>[^\s:]+): (?P<message>.+)$")
# a config file error without a line: `holistics-schedules.yml: paths.0: message`
_FILE_PROBLEM = re.compile(r"^\s*(?P<file>[^\s:][^:\n]*?\.ya?ml): (?P<path>[^\s:]+): (?P<message>.+)$")
_COMMAND = re.compile(r"^\s*::error(?: (?P<props>[^:]*))?::(?P<message>.*)$")


def plain(text: str) -> str:
    return _ANSI.sub("", text).rstrip("\r\n")


def problems_in(output: str, cwd: Path, workspace: Path) -> list[Problem]:
    """Every problem in a command's output, as `::error` lines (`validate --format github`) or as
    the text form, with files made relative to the repository root (annotations need that, and
    the CLI names them relative to its working directory). A file that does not exist (a missing
    directory) is kept in the message instead, since an annotation cannot point at it."""
    found: dict[Problem, None] = {}
    for raw in output.splitlines():
        line = plain(raw)
        if problem := _problem(line, cwd, workspace):
            found.setdefault(problem, None)
    return list(found)


def _problem(line: str, cwd: Path, workspace: Path) -> Problem | None:
    if command := _COMMAND.match(line):
        props = _properties(command.group("props"))
        number = int(props["line"]) if props.get("line", "").isdigit() else None
        title = props.get("title", "holistics-schedules")
        return _located(props.get("file"), number, title, unescape(command.group("message")), cwd, workspace)
    if (match := _TEXT_PROBLEM.match(line)) and _names_a_file(match, cwd):
        path = match.group("path")
        title = "holistics-schedules" if path == "-" else path
        return _located(match.group("file"), int(match.group("line")), title, match.group("message"), cwd, workspace)
    if match := _FILE_PROBLEM.match(line):
        return _located(match.group("file"), None, match.group("path"), match.group("message"), cwd, workspace)
    return None


def _names_a_file(match: re.Match[str], cwd: Path) -> bool:
    """Only what can be a problem's file: YAML, a path that exists, or a whole-file problem (`-`)."""
    file = match.group("file")
    return file.endswith((".yml", ".yaml")) or match.group("path") == "-" or (cwd / file).exists()


def _properties(text: str | None) -> dict[str, str]:
    """`file=a%3Ab.yml,line=3` -> {"file": "a:b.yml", "line": "3"} (escaped `,` and `:` never split)."""
    pairs = (part.split("=", 1) for part in (text or "").split(",") if "=" in part)
    return {name.strip(): unescape(value) for name, value in pairs}


def _located(file: str | None, line: int | None, title: str, message: str, cwd: Path, workspace: Path) -> Problem:
    if file is None:
        return Problem(None, None, title, message)
    path = Path(file) if Path(file).is_absolute() else cwd / file
    if not path.is_file() and (workspace / file).is_file():
        path = workspace / file  # `validate --format github` names files from the checkout's root
    if not path.is_file():
        where = f"{file}:{line}" if line else file
        return Problem(None, None, title, f"{where}: {message}")
    try:
        relative = Path(os.path.relpath(path.resolve(), workspace.resolve())).as_posix()
    except ValueError:  # another drive (Windows runners)
        relative = path.as_posix()
    return Problem(relative, line or None, title, message)


# ---- what `apply --json` said -------------------------------------------------------------------

_KINDS = {"create": "created", "update": "updated", "replace": "replaced", "delete": "deleted"}
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def inert(text: str) -> str:
    """Text from the network for the log: every control, line break and bidi mark as an escape, and
    no leading `::`, so no title or message can become a workflow command or a line of its own."""
    text = _UNPRINTABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    return " " + text if text.lstrip().startswith("::") else text


@dataclass
class Outcome:
    """One change apply made or failed to make."""

    ok: bool
    kind: str  # created | updated | replaced | deleted | failed | done
    name: str  # the key, or `unmanaged schedule id N "title"`
    id: int | None  # the schedule's id: the new one for a create or a replacement
    message: str
    planned: str | None = None  # create | update | delete | replace
    old_id: int | None = None  # a replacement's deleted schedule
    details: list[str] = field(default_factory=list)  # a failure's `file:line: key.field: message` lines
    problems: list[Problem] = field(default_factory=list)  # the same, to annotate
    noun: str = "schedule"  # the change's kind: schedule | alert

    @property
    def key_named(self) -> bool:
        return not self.name.startswith(("unmanaged schedule id ", "unmanaged alert id "))


@dataclass
class ApplyOutput:
    outcomes: list[Outcome] = field(default_factory=list)
    done: int | None = None  # from the summary object, when there was one
    total: int | None = None
    failed: int | None = None
    recorded: list[tuple[str, int]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # the command stopped

    @property
    def made(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.ok]

    @property
    def failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.ok]


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else "" if value is None else str(value)


def json_objects(output: str) -> list[dict[str, Any]]:
    """The objects of JSON Lines output; any other line (a warning on a merged stream) is skipped."""
    objects = []
    for line in output.splitlines():
        if not line.startswith("{"):
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict):
            objects.append(obj)
    return objects


def _change(obj: Mapping[str, Any]) -> Outcome:
    ok = obj.get("outcome") == "applied"
    action = _text(obj.get("action"))
    problems = [
        Problem(_text(e.get("file")) or None, _int(e.get("line")), _text(e.get("path")), _text(e.get("message")))
        for e in obj.get("errors") or []
        if isinstance(e, dict)
    ]
    return Outcome(
        ok=ok,
        kind=_KINDS.get(action, "done") if ok else "failed",
        name=_text(obj.get("key") or obj.get("name")),  # an unmanaged schedule has no key: its name
        id=_int(obj.get("id")),
        message=_text(obj.get("message")),
        planned=action or None,
        old_id=_int(obj.get("old_id")),
        details=[f"{p.file}:{p.line}: {p.title}: {p.message}" for p in problems],
        problems=problems,
        noun="alert" if obj.get("kind") == "alert" else "schedule",
    )


def parse_apply(output: str) -> ApplyOutput:
    """What `holistics-schedules apply --json` said (reconciler/views/apply_view.py): an object per
    change (`type: change`), per id recorded (`recorded`) and not (`unrecorded`), the error that
    stopped it (`error`), and the counts last (`summary`, which may be missing: then the change
    objects are counted). Nothing of it is parsed from English."""
    parsed = ApplyOutput()
    recorded: dict[str, int] = {}
    for obj in json_objects(output):
        kind = obj.get("type")
        if kind == "change":
            parsed.outcomes.append(_change(obj))
        elif kind == "summary":
            parsed.done, parsed.total, parsed.failed = (_int(obj.get(k)) for k in ("applied", "changes", "failed"))
        elif kind == "recorded":
            file = _text(obj.get("file"))
            recorded[file] = recorded.get(file, 0) + 1
        elif kind == "error":
            parsed.errors.append(_text(obj.get("message")))
    parsed.recorded = list(recorded.items())
    return parsed


def log_line(obj: Mapping[str, Any]) -> str | None:
    """An object of apply --json as one line of the log, every string from it made inert."""
    kind = obj.get("type")
    if kind == "change":
        mark = "✓" if obj.get("outcome") == "applied" else "✗"
        ident = f" (id {obj['id']})" if _int(obj.get("id")) is not None else ""
        return inert(f"{mark} {_text(obj.get('name'))}{ident}: {_text(obj.get('message'))}")
    if kind == "recorded":
        return inert(f"recorded id {obj.get('id')} for {_text(obj.get('key'))} in {_text(obj.get('file'))}")
    if kind == "unrecorded":
        return inert(f"not recorded: id {obj.get('id')} for {_text(obj.get('key'))} ({_text(obj.get('reason'))})")
    if kind == "summary":
        return f"{obj.get('applied')} of {obj.get('changes')} change(s) made, {obj.get('failed')} failed"
    if kind == "error":
        return inert(f"error: {_text(obj.get('message'))}")
    return None


# ---- markdown ----------------------------------------------------------------------------------

_EMAIL = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+\.[A-Za-z]{2,})")


def mask_emails(text: str) -> str:
    """As the markdown plan does (reconciler/render.py): addresses are personal data in comments."""
    return _EMAIL.sub(r"\1***@\2", text)


def code(text: str) -> str:
    """Inline code that nothing inside can end or turn into a mention, a link or HTML."""
    text = mask_emails(text).replace("\n", " ")
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    ticks = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or longest else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def fenced(text: str, info: str = "text") -> str:
    """A code block no line of `text` can close."""
    longest = max((len(run) for run in re.findall(r"^\s*(`{3,})", text, flags=re.M)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{mask_emails(text).rstrip()}\n{fence}\n"


def escaped(text: str) -> str:
    """Running text from the network or the YAML, shown as text: no HTML, links or mentions."""
    text = html.escape(mask_emails(text), quote=False)
    text = re.sub(r"([\\`*_\[\]#|~!])", r"\\\1", text).replace("\n", " ")
    return text.replace("@", "@\u200b")  # a zero-width space: `@team` notifies no one (`\@` still would)


def tail(text: str, lines: int = ERROR_LINES) -> str:
    """The last `lines` lines, without colour or the blank lines around them."""
    kept = "\n".join(plain(line) for line in text.splitlines()).strip("\n").splitlines()
    return ("…\n" if len(kept) > lines else "") + "\n".join(kept[-lines:])


def readable(output: str) -> str:
    """A command's output for people: `::error` lines back in the text form."""
    lines = []
    for line in map(plain, output.splitlines()):
        if command := _COMMAND.match(line):
            props = _properties(command.group("props"))
            where = ":".join(props[k] for k in ("file", "line") if k in props)
            title = props.get("title", "holistics-schedules")
            line = (
                f"{where}: {title}: {unescape(command.group('message'))}"
                if where
                else f"{title}: {unescape(command.group('message'))}"
            )
        lines.append(line)
    return "\n".join(lines)


def report_markdown(parsed: ApplyOutput, exit_code: int, *, listed: int = LISTED) -> str:
    """What apply did, for the merged pull request and the job summary: what was created with which
    ids, updated, replaced, deleted, and what failed and why (with the YAML lines), in that order."""
    for limit in (listed, 20, 5, 0):
        body = _report(parsed, exit_code, limit)
        if len(body) <= COMMENT_BUDGET:
            return body
    return body[:COMMENT_BUDGET]


def _heading(parsed: ApplyOutput, exit_code: int) -> str:
    """The report's first line: the counts from the summary object, else from the change objects."""
    total = parsed.total if parsed.total is not None else len(parsed.outcomes)
    done = parsed.done if parsed.done is not None else len(parsed.made)
    failed = parsed.failed if parsed.failed is not None else len(parsed.failures)
    if exit_code == 0 and not parsed.outcomes:
        return "### Holistics schedules applied: no changes were needed\n"
    if exit_code == 0:
        return f"### Holistics schedules applied: {done} change(s) made\n"
    if parsed.outcomes or parsed.total is not None:
        return f"### Holistics schedules apply failed: {done} of {total} change(s) made, {failed} failed\n"
    return "### Holistics schedules apply failed before making any change\n"


def _report(parsed: ApplyOutput, exit_code: int, listed: int) -> str:
    made, failures = parsed.made, parsed.failures
    out: list[str] = [_heading(parsed, exit_code)]

    def section(title: str, items: Sequence[Outcome], line: Any) -> None:
        if not items:
            return
        out.append(f"**{title}** ({len(items)})\n")
        out.extend(line(o) for o in items[:listed])
        if len(items) > listed:
            out.append(f"- and {len(items) - listed} more (see the run's log)")
        out.append("")

    def named(o: Outcome) -> str:  # an alert says so; an unmanaged item's name already does
        return f"alert {code(o.name)}" if o.noun == "alert" and o.key_named else code(o.name)

    def with_id(o: Outcome) -> str:  # an unmanaged schedule's name already says its id
        return f"- {named(o)} (id {o.id})" if o.id and o.key_named else f"- {named(o)}"

    def kind(name: str) -> list[Outcome]:
        return [o for o in made if o.kind == name]

    section("Created", kind("created"), lambda o: f"- {named(o)}: id {o.id}" if o.id else f"- {named(o)}")
    section("Updated", kind("updated"), with_id)
    section(
        "Replaced",
        kind("replaced"),
        lambda o: f"- {named(o)}: id {o.old_id} deleted, id {o.id} created" if o.id else f"- {named(o)}",
    )
    section("Deleted", kind("deleted"), with_id)
    section("Done", kind("done"), lambda o: f"- {named(o)}: {escaped(o.message)}")

    def failure(o: Outcome) -> str:
        what = f" ({o.planned})" if o.planned else ""
        ident = f" (id {o.id})" if o.id and o.key_named else ""
        lines = [f"- {named(o)}{ident}{what}: {escaped(o.message)}"]
        lines += [f"  - {code(detail)}" for detail in o.details]
        return "\n".join(lines)

    section("Failed", failures, failure)
    return "\n".join(out + _closing(parsed))


def _closing(parsed: ApplyOutput) -> list[str]:
    """Why it stopped, where the new ids went, and what to do about failures."""
    out = []
    if parsed.errors:
        out.append(fenced("\n".join(f"Error: {e}" for e in parsed.errors)))
    if parsed.recorded:
        files = ", ".join(f"{code(file)} ({count})" for file, count in parsed.recorded)
        out.append(f"New ids recorded in {files}.\n")
    if parsed.failures:
        out.append(
            "Fix what failed in a new pull request, or re-run the apply if the failure was temporary; "
            "the next plan shows what is left to do.\n"
        )
    return out


# ---- running the command -----------------------------------------------------------------------


class ActionError(Exception):
    """The action cannot run as asked (an unknown command, a base commit missing from the clone)."""


@dataclass
class Step:
    """What one run of the action knows and produces."""

    env: Mapping[str, str]
    command: str = ""
    paths: list[str] = field(default_factory=list)
    prune_since: str = ""
    args: list[str] = field(default_factory=list)
    comment: bool = True
    cwd: Path = field(default_factory=Path.cwd)
    workspace: Path = field(default_factory=Path.cwd)
    out: Path = field(default_factory=Path.cwd)
    event: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    summary: list[str] = field(default_factory=list)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Step:
        command = env.get("HS_COMMAND", "").strip().lower()
        if command not in COMMANDS:
            raise ActionError(f"input `command` must be one of {', '.join(COMMANDS)}; got {command!r}")
        try:
            paths = shlex.split(env.get("HS_PATHS", ""))
            args = shlex.split(env.get("HS_ARGS", ""))
        except ValueError as exc:
            raise ActionError(f"inputs `paths` and `args` are split like a shell's words: {exc}") from None
        workspace = Path(env.get("GITHUB_WORKSPACE") or Path.cwd())
        temp = Path(env.get("RUNNER_TEMP") or Path.cwd())
        event: dict[str, Any] = {}
        if env.get("GITHUB_EVENT_PATH") and Path(env["GITHUB_EVENT_PATH"]).is_file():
            event = json.loads(Path(env["GITHUB_EVENT_PATH"]).read_text(encoding="utf-8"))
        return cls(
            env=env,
            command=command,
            paths=paths,
            prune_since=env.get("HS_PRUNE_SINCE", "").strip(),
            args=args,
            comment=env.get("HS_COMMENT", "true").strip().lower() not in ("false", "no", "0", "off"),
            cwd=Path.cwd(),
            workspace=workspace,
            out=temp / "holistics-schedules",
            event=event,
            outputs={
                "result": "",
                "has-changes": "false",
                "plan-file": "",
                "comment": "false",
                "errors-file": "",
                "report-file": "",
            },
        )

    @property
    def pull_request(self) -> dict[str, Any] | None:
        pr = self.event.get("pull_request")
        return pr if isinstance(pr, dict) else None

    @property
    def from_fork(self) -> bool:
        """A pull request that gets no secrets and a read-only token: from another repository (its
        `head.repo.fork` alone is not enough: also true in a repository that is itself a fork), a
        deleted fork, or Dependabot."""
        pr = self.pull_request
        if pr is None:
            return False
        head_repo = (pr.get("head") or {}).get("repo") or {}
        author = (pr.get("user") or {}).get("login")
        return head_repo.get("full_name") != self.env.get("GITHUB_REPOSITORY") or DEPENDABOT in (
            author,
            self.env.get("GITHUB_ACTOR"),
        )

    def finish(self, result: str, *, has_changes: bool = False) -> None:
        self.outputs["result"] = result
        self.outputs["has-changes"] = "true" if has_changes else "false"

    def write(self) -> None:
        if path := self.env.get("GITHUB_OUTPUT"):
            with open(path, "a", encoding="utf-8") as f:
                for name, value in self.outputs.items():
                    f.write(f"{name}={value}\n")  # single-line values only: paths and words
        if (path := self.env.get("GITHUB_STEP_SUMMARY")) and self.summary:
            with open(path, "a", encoding="utf-8") as f:
                f.write(fit_summary("\n".join(self.summary)))


def fit_summary(text: str, limit: int = SUMMARY_LIMIT) -> str:
    """The summary, cut at a line to fit GitHub's limit, saying where the rest is."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text if text.endswith("\n") else text + "\n"
    note = "\n\n> The rest is cut: a job summary holds at most 1 MiB. The plan artifact and the log have all of it.\n"
    cut = data[: limit - len(note.encode()) - 200].decode("utf-8", "ignore")  # 200: the closing tags
    cut = cut[: cut.rfind("\n") + 1]
    if len(re.findall(r"^```", cut, flags=re.M)) % 2:
        cut += "```\n"
    cut += "</details>\n" * max(0, cut.count("<details>") - cut.count("</details>"))
    return cut + note


def cli(step: Step, args: Sequence[str]) -> tuple[int, str]:
    """Run `holistics-schedules ARGS` in the working directory, its output streamed to the log with
    workflow commands turned off (so nothing it echoes, a title or a raw `::error` with a path
    relative to the working directory, is taken as a command), and returned."""
    print(f"$ holistics-schedules {shlex.join(args)}", flush=True)
    token = secrets.token_hex(16)
    print(f"::stop-commands::{token}", flush=True)
    env = {**step.env, "PYTHONUNBUFFERED": "1"}  # lines in the order they were printed
    lines: list[str] = []
    with subprocess.Popen(
        [sys.executable, "-m", "reconciler", *args],
        cwd=step.cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    ) as proc:
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.decode("utf-8", "replace")
            sys.stdout.write(line)
            sys.stdout.flush()
            lines.append(line)
        code_ = proc.wait()
    if lines and not lines[-1].endswith("\n"):
        print()
    print(f"::{token}::", flush=True)
    return code_, "".join(lines)


def annotate(step: Step, output: str) -> list[Problem]:
    problems = problems_in(output, step.cwd, step.workspace)
    for problem in problems:
        print(problem.command(), flush=True)
    return problems


def supports_github_format(step: Step) -> bool:
    """`validate --format github` where the installed CLI has it; else the text form is converted."""
    done = subprocess.run(
        [sys.executable, "-m", "reconciler", "validate", "--help"],
        cwd=step.cwd,
        env=dict(step.env),
        capture_output=True,
        text=True,
    )
    return done.returncode == 0 and "--format" in done.stdout and "github" in done.stdout


def git_has_commit(step: Step, sha: str) -> bool:
    done = subprocess.run(["git", "cat-file", "-e", f"{sha}^{{commit}}"], cwd=step.cwd, capture_output=True, text=True)
    return done.returncode == 0


def prune_since(step: Step) -> list[str]:
    """The `--prune-since` a command gets: the input, else what the event says was there before
    (a plan: the pull request's base; an apply: the commit before the push), else none."""
    if any(a == "--prune" or a.startswith("--prune-since") for a in step.args):
        return []  # the caller chose in `args`
    chosen = step.prune_since
    if chosen.lower() in ("none", "false", "off"):
        return []
    if chosen:
        return ["--prune-since", chosen]  # the CLI names it when git does not know it
    if step.command == "plan" and step.pull_request:
        base = str((step.pull_request.get("base") or {}).get("sha") or "")
        if not base:
            return []
        if not git_has_commit(step, base):
            raise ActionError(
                f"the pull request's base commit {base[:12]} is not in the clone, so the plan cannot show what "
                "this pull request deletes: check out with `fetch-depth: 0`"
            )
        return ["--prune-since", base]
    if step.command == "apply" and step.env.get("GITHUB_EVENT_NAME") == "push":
        before = str(step.event.get("before") or "")
        if not before or before == ZERO_SHA:
            print("No commit before this push (a new branch): nothing is deleted by --prune-since.")
            return []
        if not git_has_commit(step, before):
            print(
                "::warning title=Removed entries are not deleted::"
                + escape_data(
                    f"the commit before this push ({before[:12]}) is not in the clone (a force-push, or a "
                    "shallow checkout: use fetch-depth: 0), so schedules whose entries this push removed "
                    "are left in Holistics"
                ),
                flush=True,
            )
            return []
        return ["--prune-since", before]
    return []


def error_markdown(title: str, output: str, problems: Sequence[Problem]) -> str:
    shown = "\n".join(p.text() for p in problems) if problems else tail(readable(output))
    return f"{title}\n\n{fenced(shown)}" if shown.strip() else f"{title}\n"


def fail(step: Step, title: str, output: str, problems: Sequence[Problem] = ()) -> None:
    """The command failed: the summary and the comment say why; the action's last step fails the job."""
    body = error_markdown(title, output, problems)
    path = step.out / "errors.md"
    path.write_text(body, encoding="utf-8")
    step.outputs["errors-file"] = str(path)
    step.summary.append(f"### Holistics schedules {step.command} failed\n\n{body}")
    step.finish("error")


def validate(step: Step, extra: Sequence[str] = ()) -> bool:
    """Validate offline (every command starts here; forks included): annotations on the lines."""
    args = ["validate", *step.paths, *extra]
    if supports_github_format(step):
        args += ["--format", "github"]
    code_, output = cli(step, args)
    problems = annotate(step, output)
    if code_ != 0:
        fail(step, f"Validation found {len(problems) or 'a'} problem(s):", output, problems)
        return False
    return True


def has_key(step: Step) -> bool:
    return bool(step.env.get("HOLISTICS_API_KEY"))


def run_validate(step: Step) -> None:
    if validate(step, step.args):
        step.summary.append("### Holistics schedules\n\nThe schedules are valid.")
        step.finish("no-changes")


def run_plan(step: Step) -> None:
    pr = step.pull_request
    step.outputs["comment"] = "true" if pr is not None and step.comment and not step.from_fork else "false"
    if not validate(step):
        return
    if step.from_fork:
        message = (
            "This pull request comes from a fork (or Dependabot), which gets no secrets, so only validation "
            "ran; no plan was made. A maintainer can push the branch to this repository to get a plan."
        )
        print(f"::notice title=Plan skipped::{escape_data(message)}")
        step.summary.append(f"### Holistics schedules plan\n\n{message}")
        step.finish("skipped")
        return
    if not has_key(step):
        message = "The HOLISTICS_API_KEY secret is not available to this run, so no plan was made."
        print(f"::warning title=Plan skipped::{escape_data(message)}")
        step.summary.append(f"### Holistics schedules plan\n\n{message}")
        step.finish("skipped")
        return
    planned(step, "plan.md", prune_since(step))


def run_drift(step: Step) -> None:
    if not validate(step):
        return
    if not has_key(step):
        raise ActionError("no API key: set the HOLISTICS_API_KEY secret and pass it in the step's env")
    planned(step, "drift.md", prune_since(step))


def run_audit(step: Step) -> None:
    """`audit`: every delivery of the workspace against the policy, the markdown to the job summary
    and the artifact; `violations` when anything breaks the policy (exit 1 with the audit written),
    else `no-changes`; an exit without the audit is an error."""
    if not has_key(step):
        raise ActionError("no API key: set the HOLISTICS_API_KEY secret and pass it in the step's env")
    if chosen := [a for a in step.args if a.split("=")[0] in ("--format", "--out", "--show-sensitive")]:
        # the summary is the masked markdown: a later --format would put every address in it
        raise ActionError(f"`args` may not set {chosen[0].split('=')[0]} for audit: the action writes the markdown")
    audit_file = step.out / "audit.md"
    audit_file.unlink(missing_ok=True)  # only this run's audit tells what this run found
    code_, output = cli(step, ["audit", "--format", "markdown", "--out", str(audit_file), *step.args])
    if code_ not in (0, 1) or not audit_file.is_file():
        fail(step, f"`holistics-schedules audit` failed (exit {code_}):", output, annotate(step, output))
        return
    step.outputs["plan-file"] = str(audit_file)
    step.summary.append(audit_file.read_text(encoding="utf-8"))
    step.finish("violations" if code_ == 1 else "no-changes", has_changes=code_ == 1)


def planned(step: Step, name: str, prune: Sequence[str]) -> None:
    """`plan`: the text plan to the log, the whole markdown plan to a file (the summary, the
    artifact, the comment or the drift issue); exit 0 no changes, 2 changes, else an error."""
    plan_file = step.out / name
    args = ["plan", *step.paths, "--out", str(plan_file), "--detailed-exitcode", *prune, *step.args]
    code_, output = cli(step, args)
    if code_ not in (0, 2) or not plan_file.is_file():
        fail(step, f"`holistics-schedules plan` failed (exit {code_}):", output, annotate(step, output))
        return
    step.outputs["plan-file"] = str(plan_file)
    step.summary.append(plan_file.read_text(encoding="utf-8"))
    step.finish("changes" if code_ == 2 else "no-changes", has_changes=code_ == 2)


def apply_json(step: Step, args: Sequence[str]) -> tuple[int, str, str]:
    """Run `holistics-schedules apply --json`: its JSON Lines (stdout) read object by object and
    shown in the log as one inert line each; its stderr (an error that stopped it) shown with every
    line made inert, inside a stop-commands block. Returns the exit code, stdout and stderr."""
    print(f"$ holistics-schedules {shlex.join(args)}", flush=True)
    token = secrets.token_hex(16)
    print(f"::stop-commands::{token}", flush=True)
    env = {**step.env, "PYTHONUNBUFFERED": "1"}
    with subprocess.Popen(
        [sys.executable, "-m", "reconciler", *args],
        cwd=step.cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        errors: list[str] = []
        stderr = proc.stderr

        def drain() -> None:  # read apart, so neither pipe fills while the other is read
            errors.append(stderr.read().decode("utf-8", "replace"))

        reader = threading.Thread(target=drain)
        reader.start()
        lines = []
        for raw in proc.stdout:
            line = raw.decode("utf-8", "replace")
            lines.append(line)
            for obj in json_objects(line):
                if (shown := log_line(obj)) is not None:
                    print(shown, flush=True)
        reader.join()
        code_ = proc.wait()
    err = "".join(errors)
    for line in err.splitlines():
        print(inert(plain(line)), flush=True)
    print(f"::{token}::", flush=True)
    return code_, "".join(lines), err


def failure_commands(parsed: ApplyOutput, cwd: Path, workspace: Path) -> list[str]:
    """An `::error` per field the API rejected, at its YAML line, and one per failure that points at
    no line (a 403, a timeout); every text in them from the server made inert first."""
    commands = []
    for failure in parsed.failures:
        for p in failure.problems:
            commands.append(_located(p.file, p.line, inert(p.title), inert(p.message), cwd, workspace).command())
        if not failure.problems:
            commands.append(Problem(None, None, inert(failure.name), inert(failure.message)).command())
    return commands


def run_apply(step: Step) -> None:
    report = step.out / "report.md"
    step.outputs["report-file"] = str(report)
    if not validate(step):
        report.write_text(
            "### Holistics schedules apply did not run: the schedules are invalid\n\n"
            + Path(step.outputs["errors-file"]).read_text(encoding="utf-8"),
            encoding="utf-8",
        )
        return
    if not has_key(step):
        raise ActionError("no API key: set the HOLISTICS_API_KEY secret (on the environment apply runs in)")
    args = ["apply", *step.paths, "--auto-approve", "--json", *prune_since(step), *step.args]
    code_, output, err = apply_json(step, args)
    parsed = parse_apply(output)
    if code_ != 0 and not parsed.errors and parsed.total is None:
        # stopped before saying why in JSON (a usage error, an older CLI): its last words, inert
        parsed.errors.extend(inert(line) for line in tail(err, 5).splitlines() if line.strip())
    for command in failure_commands(parsed, step.cwd, step.workspace):
        print(command, flush=True)
    body = report_markdown(parsed, code_)
    report.write_text(body, encoding="utf-8")
    step.summary.append(body)
    step.summary.append(f"<details><summary>The apply's output</summary>\n\n{fenced(tail(output, 2000))}\n</details>")
    if code_ != 0:
        path = step.out / "errors.md"
        path.write_text(body, encoding="utf-8")
        step.outputs["errors-file"] = str(path)
        step.finish("error", has_changes=bool(parsed.outcomes))
    else:
        step.finish("changes" if parsed.outcomes else "no-changes", has_changes=bool(parsed.outcomes))


RUNS = {"validate": run_validate, "plan": run_plan, "apply": run_apply, "drift": run_drift, "audit": run_audit}


def main_run(env: Mapping[str, str]) -> int:
    try:
        step = Step.from_env(env)
    except ActionError as exc:
        print(f"::error title=holistics-schedules action::{escape_data(str(exc))}")
        return 1
    step.out.mkdir(parents=True, exist_ok=True)
    try:
        RUNS[step.command](step)
    except ActionError as exc:
        print(f"::error title=holistics-schedules {step.command}::{escape_data(str(exc))}")
        fail(step, str(exc), "")
        if step.command == "apply":
            Path(step.outputs["report-file"]).write_text(
                f"### Holistics schedules apply did not run\n\n{escaped(str(exc))}\n", encoding="utf-8"
            )
    finally:
        step.write()  # also after a crash: the later steps (the bot commit, the report) read these
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="what", required=True)
    sub.add_parser("run", help="run the action's command (inputs from HS_* variables)")
    annotate_cmd = sub.add_parser("annotate", help="CLI output on stdin -> ::error lines")
    annotate_cmd.add_argument("--cwd", type=Path, default=Path.cwd(), help="where the CLI ran")
    annotate_cmd.add_argument("--workspace", type=Path, default=None, help="the repository root")
    report_cmd = sub.add_parser("report", help="`apply --json` output on stdin -> markdown report")
    report_cmd.add_argument("--exit-code", type=int, default=0)
    options = parser.parse_args(argv)
    if options.what == "run":
        return main_run(os.environ)
    text = sys.stdin.read()
    if options.what == "annotate":
        workspace = options.workspace or Path(os.environ.get("GITHUB_WORKSPACE") or options.cwd)
        for problem in problems_in(text, options.cwd, workspace):
            print(problem.command())
        return 0
    print(report_markdown(parse_apply(text), options.exit_code), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
