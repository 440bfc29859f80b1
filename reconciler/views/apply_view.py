"""What apply shows as it goes: for people, the plan, a line per change (and a live bar on a
terminal), the ids recorded and a summary; for machines (`apply --json`), JSON Lines on stdout as
Terraform's `apply -json`: one object per change as it completes, the ids, a summary object last.

The JSON view imports neither rich nor ruamel: a machine's apply pays for no terminal. Every string
in it (titles, the server's messages) is a JSON string, so no text can start a line or a command.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

import click

from reconciler import problems as diagnostics
from reconciler.core.model import Action, Change, Plan, WorkspacePlan
from reconciler.desired.yamlwrite import Unrecorded
from reconciler.errors import UserError
from reconciler.kinds import SourceKey
from reconciler.kinds.known import BY_YAML_KEY
from reconciler.problems import Problem
from reconciler.views import plan_text, plan_words
from reconciler.views.console import print_error, printable, stderr, stdout, without_hidden_values


def noun(kind: str) -> str:
    """A kind (`schedules`, `alerts`) as one of it: `schedule`, `alert`. apply --json has always said
    `"kind": "schedule"`, so its objects name the kind by this noun."""
    known = BY_YAML_KEY.get(kind)
    return known.noun if known is not None else kind


class Outcome(Protocol):
    """One change apply attempted (`usecases.applying.Result`)."""

    @property
    def change(self) -> Change: ...
    @property
    def ok(self) -> bool: ...
    @property
    def id(self) -> int | None: ...
    @property
    def message(self) -> str: ...
    @property
    def errors(self) -> tuple[Problem, ...]: ...
    @property
    def deleted(self) -> int | None: ...


class Outcomes(Protocol):
    """What one apply did (`usecases.applying.Report`)."""

    @property
    def results(self) -> Sequence[Outcome]: ...
    @property
    def recorded(self) -> Mapping[str, Mapping[str, int]]: ...
    @property
    def unrecorded(self) -> Sequence[Unrecorded]: ...
    @property
    def ok(self) -> bool: ...
    @property
    def done(self) -> int: ...
    @property
    def half_done(self) -> Sequence[Outcome]: ...
    @property
    def failed(self) -> Sequence[Outcome]: ...
    def kind_of(self, key: str) -> str: ...


OnResult = Callable[[Outcome], None]


class TextView:
    """The apply people read: the plan, `✓`/`✗` a change, `Recorded N id(s) in FILE`, the verdict."""

    def plan(self, plan: Plan | WorkspacePlan, titles: Mapping[SourceKey, str]) -> None:
        stdout().print(plan_text.text(plan, titles))

    @contextmanager
    def progress(self, total: int) -> Iterator[OnResult]:
        """A callback for each result; a live bar only where a person watches: stderr is a terminal
        and the apply is long."""
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        err = stderr()
        live = err.is_terminal and total > 10
        bar = Progress(
            TextColumn("applying"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err, transient=True
        )
        task = bar.add_task("apply", total=total)
        ok_sink = err if live else stdout()

        def on_result(result: Outcome) -> None:
            _print_result(result, ok_sink)
            bar.advance(task)

        if live:
            with bar:
                yield on_result
        else:
            yield on_result

    def nothing_to_do(self, report: Outcomes) -> None:
        """No changes: still the ids recorded for entries matched by content."""
        self._recorded(report)
        self._unrecorded(report)

    def finish(self, report: Outcomes) -> None:
        self._recorded(report)
        failed = len(report.failed)
        missed = f", {len(report.unrecorded)} id(s) not recorded" if report.unrecorded else ""
        # "complete" only when every change was made: a reader of a CI log stops at that word
        verdict = "Apply complete" if report.ok else "Apply incomplete"
        half = len(report.half_done)
        old = " or ".join(sorted({noun(r.change.kind) for r in report.half_done}))
        deleted = f" ({half} of them half made: the old {old} deleted, the new one not created)" if half else ""
        stdout().print(
            f"{verdict}: {report.done} of {len(report.results)} change(s) made{_per_kind(report)}, "
            f"{failed} failed{deleted}{missed}."
        )
        for result in report.half_done:
            stdout().print(diagnostics.escape_controls(no_longer_delivers(result)), markup=False)
        self._unrecorded(report)

    def error(self, error: Exception) -> None:
        """The command stopped: `reconciler.cli` says it, as for every command."""

    @staticmethod
    def _recorded(report: Outcomes) -> None:
        for file, ids in sorted(report.recorded.items()):
            stdout().print(diagnostics.escape_controls(f"Recorded {len(ids)} id(s) in {file}"), markup=False)

    @staticmethod
    def _unrecorded(report: Outcomes) -> None:
        """Each id apply could not record, as the line to add and where: the schedule exists remotely,
        and without its id the entry is matched again by content only while its content still matches."""
        if not report.unrecorded:
            return
        err = stderr()
        for missing in sorted(report.unrecorded, key=lambda u: (u.file, u.line, u.key)):
            err.print(str(missing), markup=False)
        print_error(
            f"{len(report.unrecorded)} id(s) could not be recorded in the YAML: add each line above by hand "
            "(or run apply again once the file can be written, to record them)"
        )


def _per_kind(report: Outcomes) -> str:
    """` (2 schedule(s), 1 alert(s))`: the changes made of each kind, once any is not a schedule (a
    schedule-only apply says what it always said)."""
    made: dict[str, int] = {}
    for result in report.results:
        made[result.change.kind] = made.get(result.change.kind, 0) + int(result.ok)
    if set(made) <= {"schedules"}:
        return ""
    order = [k for k in BY_YAML_KEY if k in made] + sorted(set(made) - BY_YAML_KEY.keys())
    return " (" + ", ".join(f"{made[k]} {noun(k)}(s)" for k in order) + ")"


def _print_result(result: Outcome, ok_sink: Any) -> None:
    from rich.text import Text

    error_sink = stderr()
    name = plan_words.change_name(result.change)  # an alert's says so: `alert revenue-drop`
    if result.ok:
        target = f" (id {result.id})" if result.change.id is None and result.id else ""
        ok_sink.print(Text.assemble(("✓ ", "green"), f"{name}{target}: {result.message}"))
        return
    error_sink.print(Text.assemble(("✗ ", "red"), f"{name}: {result.message}"))
    for problem in result.errors:
        error_sink.print(f"    {problem}", markup=False, emoji=False)
    if diagnostics.in_github_actions():  # each rejected field, annotated at its line in the pull request
        for problem in result.errors:
            click.echo(without_hidden_values(problem.github()), err=True)


def no_longer_delivers(result: Outcome) -> str:
    """What a replacement that failed halfway left: an item that no longer delivers."""
    return (
        f"{result.change.key}: {noun(result.change.kind)} {result.deleted} was deleted and its replacement was not "
        "created, so it no longer delivers; fix what failed and apply again: the next plan creates it"
    )


# ---- apply --json -------------------------------------------------------------------------------


def _emit(obj: Mapping[str, Any]) -> None:
    """One JSON object, one line. ASCII only: a line break or a control in any string is an escape;
    `printable` escapes the `#` of any `##[` (a runner's command anywhere in a line) as JSON does."""
    click.echo(printable(json.dumps(obj, ensure_ascii=True, separators=(",", ":"))))  # flushed: seen as it completes


def change_object(result: Outcome) -> dict[str, Any]:
    """A change as it completed: what it was, its outcome, and for a failure why."""
    change = result.change
    obj: dict[str, Any] = {
        "type": "change",
        "kind": noun(change.kind),
        "key": change.key,
        "name": plan_words.change_name(change),
        "action": change.action.value,
        "id": result.id,
        "outcome": "applied" if result.ok else "partial" if result.deleted is not None else "failed",
        "message": result.message,
        "file": change.file,
        "line": change.line,
    }
    if change.action is Action.REPLACE:
        obj["old_id"] = change.id  # the item a replacement deletes; `id` is the new one
    if result.deleted is not None:
        obj["deleted_id"] = result.deleted  # a replacement that failed halfway: this one delivers no more
    if result.errors:
        obj["errors"] = [p.as_json() for p in result.errors]
    return obj


class JsonView:
    """`apply --json`: JSON Lines on stdout, nothing else printed but the error that stops a run."""

    def plan(self, plan: Plan | WorkspacePlan, titles: Mapping[SourceKey, str]) -> None:
        """The plan is `plan --json`'s to show; apply's objects say what was done."""

    @contextmanager
    def progress(self, total: int) -> Iterator[OnResult]:
        yield lambda result: _emit(change_object(result))

    def nothing_to_do(self, report: Outcomes) -> None:
        self.finish(report)

    def finish(self, report: Outcomes) -> None:
        for file, ids in sorted(report.recorded.items()):
            for key, new_id in sorted(ids.items()):
                _emit({"type": "recorded", "kind": noun(report.kind_of(key)), "file": file, "key": key, "id": new_id})
        for missing in sorted(report.unrecorded, key=lambda u: (u.file, u.line, u.key)):
            _emit(
                {
                    "type": "unrecorded",
                    "kind": noun(report.kind_of(missing.key)),
                    "file": missing.file,
                    "line": missing.line,
                    "key": missing.key,
                    "id": missing.id,
                    "reason": missing.reason,
                }
            )
        _emit(summary_object(report))

    def error(self, error: Exception) -> None:
        """The run stopped before its summary: the reason as an object too (stderr says it as text)."""
        details = error.details() if isinstance(error, UserError) else ()
        _emit({"type": "error", "message": str(error), "details": [str(d) for d in details]})


def summary_object(report: Outcomes) -> dict[str, Any]:
    """The counts, last: `complete` only when every change was made and every id recorded. `by_kind`
    counts each kind; `kind` names the one kind of every change (`schedule` when there are none),
    or is `mixed`."""
    results = report.results
    by_kind = _by_kind(results)
    return {
        "type": "summary",
        "kind": next(iter(by_kind)) if len(by_kind) == 1 else "mixed" if by_kind else "schedule",
        "changes": len(results),
        "applied": report.done,
        "failed": len(report.failed),
        "recorded": sum(len(ids) for ids in report.recorded.values()),
        "unrecorded": len(report.unrecorded),
        "partial": len(report.half_done),
        "complete": report.ok and not report.unrecorded,
        "by_action": _by_action(results),
        "by_kind": by_kind,
    }


def _by_kind(results: Sequence[Outcome]) -> dict[str, dict[str, int]]:
    """noun -> its changes, applied and failed, in the order plans show the kinds."""
    rank = {name: n for n, name in enumerate(BY_YAML_KEY)}
    counts: dict[str, dict[str, int]] = {}
    for result in sorted(results, key=lambda r: rank.get(r.change.kind, len(rank))):
        per = counts.setdefault(noun(result.change.kind), {"changes": 0, "applied": 0, "failed": 0})
        per["changes"] += 1
        per["applied" if result.ok else "failed"] += 1
    return counts


def _by_action(results: Sequence[Outcome]) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {}
    for result in results:
        per = counts.setdefault(result.change.action.value, {"applied": 0, "failed": 0})
        per["applied" if result.ok else "failed"] += 1
    return counts
