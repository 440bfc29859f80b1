"""The delivery policy over the YAML's entries: each violation a `Problem` at the entry's file and the
field's line, the config's exceptions applied, and the exceptions in use for the plan to list.

Only the YAML is judged here (`validate`, `plan`, `apply`): a remote delivery no entry declares never
blocks a plan. An entry is judged whatever the plan does with it (unchanged, selected out by
--target or not). A value from the environment (`${VAR}`) is judged by its value when the variable
is set, and shown as its expression; offline with the variable unset, its field is not judged.

An exception is reviewable only while it means something: one naming a key no entry has, or a rule
its entry does not break, is a problem at its line in the config file, as a stray `ignore.schedules`
key is."""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from reconciler.core import hiding
from reconciler.desired import envvalues
from reconciler.desired.yamlread import load
from reconciler.kinds.entries import DesiredEntry
from reconciler.policy.model import PolicyException as PolicyException
from reconciler.policy.model import Violation
from reconciler.policy.rules import RULES_HERE, violations
from reconciler.problems import InvalidSchedules, Problem
from reconciler.usecases.config import ProjectConfig


@dataclass(frozen=True)
class Policing:
    problems: list[Problem] = field(default_factory=list)
    in_use: list[PolicyException] = field(default_factory=list)  # in the config's order


def police(
    config: ProjectConfig,
    desired: Sequence[DesiredEntry],
    *,
    complete: bool = True,
    environ: Mapping[str, str] | None = None,
) -> Policing:
    """The policy's problems with `desired` and the exceptions they use. `complete`: `desired` is
    every entry of the project (not a subset of its files), so an exception for a key none has is
    stray."""
    policy = config.policy
    if policy.empty:
        return Policing(_exceptions_without_rules(config))
    environ = os.environ if environ is None else environ
    problems: list[Problem] = []
    used: set[int] = set()
    broken: dict[tuple[str, str], bool] = {}  # (key, rule) -> the entry breaks it (None: not judged in full)
    for entry in desired:
        fields, shown, whole = judged_fields(entry, environ)
        for violation in violations(entry.kind, fields, policy, timezone=config.timezone, shown=shown):
            broken[(entry.key, violation.rule)] = True
            excepted = policy.excepted(entry.key, violation.rule)
            if excepted is None:
                problems.append(_problem(entry, violation))
            else:
                used.add(id(excepted))
        if not whole:  # a rule it may break with the value unknown here: its exceptions are not stray
            broken.update({(entry.key, rule): True for rule in RULES_HERE if (entry.key, rule) not in broken})
    keys = {d.key for d in desired}
    problems += _stray(config, keys, broken, complete)
    return Policing(problems, [e for e in policy.exceptions if id(e) in used])


def in_use(config: ProjectConfig, desired: Sequence[DesiredEntry]) -> list[PolicyException]:
    """The exceptions in use, judging only the entries an exception names: the plan lists them after
    `refuse` has judged every entry, and judging 10,000 again for a handful of keys was its hot path."""
    excepted = {e.key for e in config.policy.exceptions}
    return police(config, [d for d in desired if d.key in excepted], complete=False).in_use


def refuse(config: ProjectConfig, desired: Sequence[DesiredEntry], *, complete: bool = True) -> list[PolicyException]:
    """The exceptions in use, once nothing breaks the policy; else InvalidSchedules with every problem
    (each printed at its line, and annotated in GitHub Actions)."""
    result = police(config, desired, complete=complete)
    if result.problems:
        raise InvalidSchedules(result.problems, what="against the delivery policy", outcome="nothing was sent")
    return result.in_use


def judged_fields(entry: DesiredEntry, environ: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str], bool]:
    """The entry's fields as the rules judge them: each `${VAR}` field with its value when every
    variable it uses is set, else None (not judged); how each such field is shown; and whether every
    field could be judged."""
    if not entry.env:
        return dict(entry.fields), {}, True
    fields = copy.deepcopy(dict(entry.fields))
    whole = True
    for path, expression in entry.env.items():
        if all(name in environ for name in envvalues.variables(expression)):
            envvalues.set_at(fields, path, envvalues.substitute(expression, environ.__getitem__))
        else:
            envvalues.set_at(fields, path, None)
            whole = False
    return fields, dict(entry.env), whole


def _problem(entry: DesiredEntry, violation: Violation) -> Problem:
    dotted = violation.path.replace("[", ".").replace("]", "")  # dest.recipients[1] -> dest.recipients.1
    return Problem(entry.file, entry.line_of(dotted), f"{entry.key}.{violation.path}", violation.message)


def _stray(
    config: ProjectConfig, keys: set[str], broken: Mapping[tuple[str, str], bool], complete: bool
) -> list[Problem]:
    """Exceptions that excuse nothing: for a key no entry has, or a rule its entry does not break
    (`max_same_minute` is judged over the workspace, elsewhere)."""
    problems = []
    seen: set[tuple[str, str]] = set()
    for i, exception in enumerate(config.policy.exceptions):
        file, line = config.where(f"policy.exceptions.{i}")
        where = f"policy.exceptions[{i}]"
        if (exception.key, exception.rule) in seen:
            problems.append(Problem(file, line, where, "a second exception for this key and rule; keep one reason"))
            continue
        seen.add((exception.key, exception.rule))
        if exception.key not in keys:
            if complete:
                problems.append(Problem(file, line, where, f"no schedule or alert has the key {exception.key!r}"))
            continue
        if getattr(config.policy, exception.rule) is not None:
            if exception.rule == "max_same_minute" or broken.get((exception.key, exception.rule)):
                continue
            why = f"{exception.key} does not break {exception.rule}"
        else:
            why = f"policy.{exception.rule} is not set"
        problems.append(Problem(file, line, where, f"an exception that excuses nothing: {why}; remove it"))
    return problems


def _exceptions_without_rules(config: ProjectConfig) -> list[Problem]:
    """Exceptions in a policy that sets no rule: each excuses nothing."""
    problems = []
    for i, exception in enumerate(config.policy.exceptions):
        file, line = config.where(f"policy.exceptions.{i}")
        message = f"an exception that excuses nothing: policy.{exception.rule} is not set; remove it"
        problems.append(Problem(file, line, f"policy.exceptions[{i}]", message))
    return problems


def imported_problems(config: ProjectConfig, files: Sequence[Path]) -> list[Problem]:
    """What the files `import` just wrote break of the policy: the workspace as it is, written down,
    which the next plan refuses until it is fixed in the workspace or excepted. Said, not refused:
    the inventory is worth having (exceptions already in the config are honoured; none is stray)."""
    if config.policy.empty or not files:
        return []
    found = police(config, load(files, cache=False), complete=False).problems
    return [p for p in found if not p.path.startswith("policy.")]


def kept_problems(
    config: ProjectConfig, desired: Sequence[DesiredEntry], remote: Mapping[tuple[str, int], Mapping[str, Any]]
) -> list[Problem]:
    """A field under `ignore:` is the workspace's: the value it keeps is the one delivered, so that one
    is judged (at the entry's line for the field; `remote`: the items the entries are, by (kind, id)).
    A field the entry takes from the environment is left to the other checks: its value is not said."""
    if config.policy.empty:
        return []
    problems = []
    for entry in desired:
        ignored = [p for p in config.ignore.for_key(entry.key) if not any(e.startswith(p) for e in entry.env)]
        item = remote.get((entry.kind, entry.id)) if entry.id is not None else None
        if ignored and item is not None:
            problems += [_problem(entry, v) for v in _kept_violations(config, entry, ignored, item)]
    return problems


def _kept_violations(
    config: ProjectConfig, entry: DesiredEntry, ignored: Sequence[str], item: Mapping[str, Any]
) -> list[Violation]:
    """The entry's violations in the fields `ignored` leaves to the workspace, judged on its values."""
    fields = copy.deepcopy(dict(entry.fields))
    for path in ignored:
        _put(fields, path, hiding.get(item, path))
    found = []
    for violation in violations(entry.kind, fields, config.policy, timezone=config.timezone):
        dotted = violation.path.replace("[", ".").replace("]", "")
        kept = next((p for p in ignored if dotted == p or dotted.startswith(f"{p}.")), None)
        if kept is not None and config.policy.excepted(entry.key, violation.rule) is None:
            found.append(replace(violation, message=f"{violation.message}; the workspace keeps it (ignore: {kept})"))
    return found


def _put(fields: dict[str, Any], path: str, value: Any) -> None:
    """`value` at the dotted `path` of `fields`, the mappings on the way made; nothing when the
    workspace has no such field (`hiding.MISSING`)."""
    if value is hiding.MISSING:
        return
    *parents, last = path.split(".")
    node = fields
    for part in parents:
        inner = node.get(part)
        node[part] = inner = dict(inner) if isinstance(inner, Mapping) else {}
        node = inner
    node[last] = value
