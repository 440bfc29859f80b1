"""Probable duplicates: remote schedules no entry claims whose content is a managed entry's (issue 18)."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.core import build
from reconciler.core.duplicates import pruning_duplicates
from reconciler.core.matching import adoptable
from reconciler.core.model import Action, Plan
from reconciler.core.safety import SafetyPolicy, unsafe_reason
from reconciler.kinds.entries import DesiredEntry
from reconciler.kinds.schedules import SCHEDULES
from reconciler.remote.client import HolisticsClient
from reconciler.sandbox import Sandbox
from reconciler.usecases.config import ProjectConfig
from reconciler.usecases.planning import make_plan


def plan(entries: list[DesiredEntry], remote: list[dict[str, Any]], **options: Any) -> Plan:
    return build.plan(entries, remote, kind=SCHEDULES, **options)


def entry(key: str, fields: Mapping[str, Any], schedule_id: int | None = None) -> DesiredEntry:
    return DesiredEntry(key, schedule_id, dict(fields), "schedules/x.yml", 1)


def body(recipients: tuple[str, ...] = ("a@x.com",), source_id: int = 1, title: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "source_type": "Dashboard",
        "source_id": source_id,
        "schedule": {"repeat": "0 8 * * 1", "paused": False},
        "dest": {"type": "EmailDest", "recipients": list(recipients)},
    }
    if title is not None:
        out["title"] = title
    return out


def served(fields: Mapping[str, Any], schedule_id: int) -> dict[str, Any]:
    """As a server returns a stored body: an id, a null title, the read-only `is_archived`."""
    out = {"title": None, **copy.deepcopy(dict(fields)), "id": schedule_id}
    out["schedule"] = {**out["schedule"], "is_archived": False}
    return out


def test_two_copies_of_one_entry_are_both_named() -> None:
    remote = [served(body(), 5), served(body(), 6), served(body(), 7)]
    p = plan([entry("weekly", body(), 5)], remote)
    assert [(d.id, d.key, d.of) for d in p.probable_duplicates] == [(6, "weekly", 5), (7, "weekly", 5)]
    assert p.changes == ()


def test_a_copy_of_an_entry_matched_by_content_is_named_too() -> None:
    # no id recorded (the create's answer was lost): the entry adopts the lowest id, the other is the copy
    p = plan([entry("weekly", body())], [served(body(), 8), served(body(), 9)])
    assert [(m.key, m.id) for m in p.matches] == [("weekly", 8)]
    assert [(d.id, d.of) for d in p.probable_duplicates] == [(9, 8)]


def test_only_equal_content_is_a_duplicate() -> None:
    remote = [
        served(body(), 5),
        served(body(("b@x.com",)), 6),  # another recipient
        served(body(title="T"), 7),  # content the entry does not mention
        served(body(source_id=2), 8),  # another dashboard
    ]
    assert plan([entry("weekly", body(), 5)], remote).probable_duplicates == ()


def test_ignore_rules_apply_to_the_comparison_as_to_adoption() -> None:
    remote = [served(body(), 5), served(body(("b@x.com",)), 6)]
    entries = [entry("weekly", body(), 5)]
    assert plan(entries, remote).probable_duplicates == ()
    ignored = plan(entries, remote, ignored=lambda key: frozenset({"dest.recipients"}))
    assert [(d.id, d.key) for d in ignored.probable_duplicates] == [(6, "weekly")]


def test_an_entry_titled_otherwise_is_a_candidate_only_when_it_leaves_its_title_to_the_workspace() -> None:
    # entries whose own title no unclaimed item has are passed over before any is indexed (issue 22)
    remote = [served(body(title="Mine"), 5), served(body(title="Theirs"), 6)]
    entries = [entry("weekly", body(title="Mine"), 5)]
    assert plan(entries, remote).probable_duplicates == ()
    curated = plan(entries, remote, ignored=lambda key: frozenset({"title"}))
    assert [(d.id, d.key) for d in curated.probable_duplicates] == [(6, "weekly")]
    untitled = {**body(), "title": {"unhashable": True}}  # compared like any entry without a title of its own
    assert plan([entry("odd", untitled, 5)], [served(untitled, 5), served(untitled, 6)]).probable_duplicates != ()


def test_what_a_prune_deletes_or_the_yaml_cannot_declare_is_no_duplicate() -> None:
    remote = [served(body(), 5), served(body(), 6)]
    pruned = plan([entry("weekly", body(), 5)], remote, prune=True)
    assert pruned.probable_duplicates == () and [c.id for c in pruned.of(Action.DELETE)] == [6]
    odd = {**served(body(), 7), "dest": {"type": "Adls2Dest"}}
    assert plan([entry("weekly", body(), 5)], [served(body(), 5), odd]).probable_duplicates == ()


def test_a_partial_plan_names_only_the_duplicates_of_its_entries() -> None:
    remote = [served(body(), 5), served(body(), 6), served(body(source_id=2), 7), served(body(source_id=2), 8)]
    entries = [entry("one", body(), 5), entry("two", body(source_id=2), 7)]
    p = plan(entries, remote, selected=lambda key: key == "two", selection="--target two")
    assert [(d.id, d.key) for d in p.probable_duplicates] == [(8, "two")]


def test_pruning_duplicates_deletes_exactly_those_and_the_threshold_counts_them() -> None:
    remote = [served(body(), 5), served(body(), 6), served(body(title="kept"), 7)]
    p = pruning_duplicates(plan([entry("weekly", body(), 5)], remote), SCHEDULES)
    (deletion,) = p.changes
    assert (deletion.action, deletion.id, deletion.key) == (Action.DELETE, 6, None)
    assert deletion.reason is not None and "weekly" in deletion.reason
    assert p.unmanaged == (7,) and set(p.briefs) == {7}
    assert unsafe_reason(p, SafetyPolicy(max_change_share=0.3, min_managed=1)) is not None
    assert pruning_duplicates(plan([entry("weekly", body(), 5)], remote[:1]), SCHEDULES).changes == ()


contents = st.builds(
    body,
    recipients=st.sampled_from([("a@x.com",), ("b@x.com",), ("a@x.com", "b@x.com")]),
    source_id=st.integers(1, 2),
    title=st.sampled_from([None, "T"]),
)


@st.composite
def workspaces(draw: st.DrawFn) -> tuple[list[DesiredEntry], list[dict[str, Any]]]:
    """Entries, each with its schedule (id recorded or not) or none, and schedules copied from them
    or made in the UI, in any order of ids."""
    bodies = draw(st.lists(contents, max_size=4))
    extra = draw(st.lists(st.one_of(contents, st.sampled_from(bodies)) if bodies else contents, max_size=5))
    ids = draw(st.permutations(range(1, len(bodies) + len(extra) + 1)))
    remote, entries = [], []
    for i, fields in enumerate(bodies):
        has_own = draw(st.booleans())
        if has_own:
            remote.append(served(fields, ids[i]))
        recorded = ids[i] if has_own and draw(st.booleans()) else None
        entries.append(entry(f"k{i}", fields, recorded))
    remote += [served(fields, ids[len(bodies) + j]) for j, fields in enumerate(extra)]
    return entries, remote


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(workspaces())
def test_duplicates_are_exactly_the_unclaimed_copies_of_a_matched_entry(workspace: Any) -> None:
    entries, remote = workspace
    p = plan(entries, remote)
    by_id = {r["id"]: r for r in remote}
    fields = {e.key: e.fields for e in entries}
    own = {m.id for m in p.matches}
    named = {d.id: d for d in p.probable_duplicates}
    # no entry's own schedule is ever called a duplicate; each names the schedule its entry holds
    assert not own & set(named)
    assert all(next(m.id for m in p.matches if m.key == d.key) == d.of for d in named.values())
    # a duplicate only when its content is the entry's, by the comparison adoption uses
    assert all(adoptable(fields[d.key], by_id[d.id], SCHEDULES) for d in named.values())
    # and every copy is found: an unmanaged schedule some matched entry would adopt is named
    for schedule_id in p.unmanaged:
        copies = [m.key for m in p.matches if adoptable(fields[m.key], by_id[schedule_id], SCHEDULES)]
        assert (schedule_id in named) == bool(copies), (schedule_id, copies)


def test_a_schedule_outside_the_scope_is_never_a_duplicate(sandbox: Sandbox, tmp_path: Path) -> None:
    (tmp_path / "schedules").mkdir()
    (tmp_path / "schedules" / "main.yml").write_text(
        "schedules:\n  weekly:\n    source_type: Dashboard\n    source_id: 1234\n"
        "    schedule: {repeat: '0 8 * * 1'}\n    dest: {type: EmailDest, recipients: [a@x.com]}\n"
    )
    config = ProjectConfig.model_validate({"paths": [str(tmp_path / "schedules")], "scope": {"dashboards": [1234]}})
    with HolisticsClient(sandbox.base_url, sandbox.key) as client:
        made = [client.create(SCHEDULES, body(source_id=source))["id"] for source in (1234, 1234, 1240, 1240)]
        p = make_plan(client, config, [], check_references=False).plan
    assert [(m.key, m.id) for m in p.matches] == [("weekly", made[0])]
    assert [d.id for d in p.probable_duplicates] == [made[1]]  # dashboard 1240 is not this repo's
