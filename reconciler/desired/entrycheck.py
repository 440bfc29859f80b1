"""One entry's plain data validated by its kind's model, as written: variables and all.

`validate` is offline and never reads the environment, so an entry is checked with its expressions
in place (`desired.envvalues`). A value that is partly a variable (`https://events.example.com/${KEY}`)
is checked as written: what is written must already be right. A value that is wholly one (`${URL}`)
cannot pass a check of its value (an https URL, an email address, one of an enum): such a check is
skipped here, by validating with a stand-in that passes it, and made when the value is known
(`envvalues.resolve`). Everything else about the field (that it is text, that it is allowed there)
is checked as usual.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from reconciler.desired import envvalues
from reconciler.desired.validation_messages import choices, data_path, validation_problems
from reconciler.desired.yamlentries import Entry
from reconciler.kinds.entries import DesiredEntry
from reconciler.kinds.known import kind_named
from reconciler.problems import Problem

# what pydantic calls a check of a value (not of its type or place): skipped for a `${X}` value
VALUE_CHECKS = frozenset({"value_error", "literal_error", "string_pattern_mismatch", "assertion_error"})
# values that pass the value checks the models make on text: a webhook URL, an address, a cron
STAND_INS = ("https://stand-in.example.com/", "stand-in@example.com", "0 0 * * *")


def checked(name: str, entry: Entry, *, literal: bool = False) -> DesiredEntry | list[Problem]:
    """The entry validated as its kind (`entry.kind`), or its problems. `entry.data` must be set.
    `literal`: no value of the entry holds `${NAME}` or `$$` (the caller knows it of the whole file)."""
    assert entry.data is not None and entry.key is not None
    model = kind_named(entry.kind).model
    data, env = (entry.data, {}) if literal else envvalues.written(entry.data)
    whole = {path for path, expression in env.items() if envvalues.is_whole(expression)}
    result = _validated(model, data, whole)
    if isinstance(result, list):
        return validation_problems(name, entry.key, entry.line, data, entry.lines, result, model)
    # one dump per entry: it is a tenth of reading one (issue 22)
    api_fields = getattr(result, "api_fields", None)
    fields: dict[str, Any] = (
        api_fields() if api_fields is not None else result.model_dump(mode="json", exclude_unset=True, exclude={"id"})
    )
    # the expressions back where the stand-ins (or the model's own rendering) were
    kept = {path: expression for path, expression in env.items() if envvalues.set_at(fields, path, expression)}
    entry_id = getattr(result, "id", None)
    return DesiredEntry(entry.key, entry_id, fields, name, entry.line, entry.lines, kind=entry.kind, env=kept)


def _validated(model: type[BaseModel], data: dict[str, Any], whole: set[str]) -> BaseModel | list[ErrorDetails]:
    """The model of `data`, each `${X}` value in `whole` standing in for a value that passes its
    value checks; or the errors that remain (a `${X}` no stand-in satisfies is refused as written)."""
    attempt = data
    tried: dict[str, int] = {}
    as_written: dict[str, ErrorDetails] = {}  # a value no stand-in passes is refused as written, not as a stand-in
    while True:
        try:
            return model.model_validate(attempt)
        except ValidationError as exc:
            errors = exc.errors(include_url=False)
        if not tried:
            as_written = {".".join(data_path(data, e["loc"])): e for e in errors}
        stand_ins: dict[str, Any] = {}
        for error in errors:
            path = ".".join(data_path(attempt, error["loc"]))
            if path in whole and error["type"] in VALUE_CHECKS and path not in stand_ins:
                candidate = _next_stand_in(error, tried.get(path, 0))
                if candidate is not None:
                    tried[path] = tried.get(path, 0) + 1
                    stand_ins[path] = candidate
        blocking = [e for e in errors if ".".join(data_path(attempt, e["loc"])) not in stand_ins]
        if blocking or not stand_ins:
            return [_as_written(e, attempt, tried, as_written) for e in blocking or errors]
        attempt = _with(attempt, stand_ins)


def _as_written(
    error: ErrorDetails, attempt: dict[str, Any], tried: dict[str, int], as_written: dict[str, ErrorDetails]
) -> ErrorDetails:
    """The error of a value that stand-ins were tried for, as the value written made it."""
    path = ".".join(data_path(attempt, error["loc"]))
    return as_written.get(path, error) if path in tried else error


def _next_stand_in(error: ErrorDetails, tried: int) -> str | None:
    """The `tried`th value to stand in for a `${X}` this error refused, or None when none is left."""
    candidates = choices(error)[:1] if error["type"] == "literal_error" else list(STAND_INS)
    return candidates[tried] if tried < len(candidates) else None


def _with(data: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = _copy(data)
    for path, value in values.items():
        envvalues.set_at(out, path, value)
    return out


def _copy(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _copy(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_copy(v) for v in node]
    return node
