"""Values from the environment at plan and apply time (reconciler.usecases.planning_env): keyed
fingerprints per variable, a saved plan refused when a variable is unset or changed (naming it, never
its value) and accepted when it is the same, and each value hidden from what the client says."""

from __future__ import annotations

import hashlib
import hmac
import importlib
import sys
import types
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace

import pytest

from reconciler.errors import CommandFailed
from reconciler.kinds.entries import DesiredEntry
from reconciler.remote.client.redact import REDACTED, Redactor
from reconciler.usecases import planning_env

SECRET = "s3cr3t-integration-k3y"
EXPRESSION = "https://events.pagerduty.com/${PD_KEY}/enqueue"


def _stand_in() -> types.ModuleType:
    """`desired.envvalues` as its contract says, for a branch where it is not there yet (the real one
    is used whenever it can be imported)."""
    module = types.ModuleType("reconciler.desired.envvalues")

    def resolve(entries: Sequence[DesiredEntry], environ: Mapping[str, str]) -> list[DesiredEntry]:
        out = []
        for e in entries:
            fields = dict(e.fields)
            if "dest" in fields:
                endpoint = fields["dest"]["endpoint"].replace("${PD_KEY}", environ["PD_KEY"])
                fields["dest"] = {**fields["dest"], "endpoint": endpoint}
            out.append(replace(e, fields=fields))
        return out

    def fingerprint_key(api_key: str) -> bytes:
        return hashlib.sha256(b"fp:" + api_key.encode()).digest()

    def fingerprint(value: str, key: bytes) -> str:
        return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()

    module.resolve = resolve  # type: ignore[attr-defined]
    module.fingerprint_key = fingerprint_key  # type: ignore[attr-defined]
    module.fingerprint = fingerprint  # type: ignore[attr-defined]
    return module


@pytest.fixture
def envvalues(monkeypatch: pytest.MonkeyPatch) -> Iterator[types.ModuleType]:
    try:
        yield importlib.import_module("reconciler.desired.envvalues")
    except ImportError:
        module = _stand_in()
        monkeypatch.setitem(sys.modules, "reconciler.desired.envvalues", module)
        import reconciler.desired as package

        monkeypatch.setattr(package, "envvalues", module, raising=False)
        yield module


def webhook_entry() -> DesiredEntry:
    fields = {
        "source_type": "VizBlock",
        "source_id": "v-1",
        "schedule": {"repeat": "0 * * * *"},
        "dest": {"type": "WebhookDest", "endpoint": EXPRESSION},
    }
    return DesiredEntry("page", None, fields, "a.yml", 1, kind="alerts", env={"dest.endpoint": EXPRESSION})


def test_variables_are_named_once_and_a_doubled_dollar_names_none() -> None:
    assert planning_env.variables(["${B}/${A}", "$${C}", "${A}"]) == ["A", "B"]


def test_fingerprints_are_keyed_per_variable_and_need_the_key(envvalues: types.ModuleType) -> None:
    key = envvalues.fingerprint_key("api-key-1")
    environ = {"PD_KEY": SECRET}
    got = planning_env.fingerprints([webhook_entry()], lambda: key, environ)
    assert set(got) == {"PD_KEY"} and SECRET not in got["PD_KEY"]
    assert (
        got["PD_KEY"]
        != planning_env.fingerprints([webhook_entry()], lambda: envvalues.fingerprint_key("other"), environ)["PD_KEY"]
    )
    assert planning_env.fingerprints([replace(webhook_entry(), env={})], lambda: None) == {}
    with pytest.raises(CommandFailed, match="needs the API key"):
        planning_env.fingerprints([webhook_entry()], lambda: None, environ)


def test_a_saved_plan_is_refused_when_a_variable_is_unset_or_changed_and_accepted_when_same(
    envvalues: types.ModuleType,
) -> None:
    key = envvalues.fingerprint_key("api-key-1")
    saved = planning_env.fingerprints([webhook_entry()], lambda: key, {"PD_KEY": SECRET})
    planning_env.refuse_changed_variables(saved, lambda: key, "plan.json", {"PD_KEY": SECRET})  # the same: applies
    with pytest.raises(CommandFailed, match=r"takes \$\{PD_KEY\} from the environment, and it is not set") as unset:
        planning_env.refuse_changed_variables(saved, lambda: key, "plan.json", {})
    with pytest.raises(CommandFailed, match=r"another value of \$\{PD_KEY\}") as changed:
        planning_env.refuse_changed_variables(saved, lambda: key, "plan.json", {"PD_KEY": "another-k3y-value"})
    for caught in (unset, changed):
        assert SECRET not in str(caught.value) and "another-k3y-value" not in str(caught.value)
    planning_env.refuse_changed_variables({}, None, "plan.json", {})  # no variable: nothing to check


def test_resolved_values_are_hidden_from_what_the_client_says_but_not_from_its_data(
    envvalues: types.ModuleType,
) -> None:
    (entry,) = planning_env.resolved([webhook_entry()], {"PD_KEY": SECRET})
    assert entry.fields["dest"]["endpoint"] == f"https://events.pagerduty.com/{SECRET}/enqueue"
    redactor = Redactor("the-api-key")
    assert SECRET not in redactor.text(f"422: endpoint .../{SECRET}/enqueue is invalid")
    assert REDACTED in redactor.text(f"x {SECRET} y")
    # the listing's data keeps it: a plan compares it with the YAML (and the views hide it by path)
    assert redactor.data({"endpoint": SECRET}) == {"endpoint": SECRET}
    error = CommandFailed(
        "failed",
    )
    error.record = {"dest.endpoint": [f"{SECRET} is not reachable"]}  # type: ignore[attr-defined]
    assert SECRET not in repr(vars(redactor.error(error)))


def test_entries_without_variables_are_returned_as_they_are_without_the_resolver() -> None:
    plain = replace(webhook_entry(), env={})
    assert planning_env.resolved([plain], {}) == [plain]
