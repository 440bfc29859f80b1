"""The pure core: matching, normalisation, field diffs, and the fixpoint property (apply then plan = empty)."""

from __future__ import annotations

import copy
import functools
import itertools
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.core import build, compare
from reconciler.core.model import Action
from reconciler.kinds.entries import DesiredEntry
from reconciler.kinds.schedules import SCHEDULES

# the kind every test here plans: data schedules
plan = functools.partial(build.plan, kind=SCHEDULES)
differences = functools.partial(compare.differences, kind=SCHEDULES)
normalize = functools.partial(compare.normalize, kind=SCHEDULES)
update_body = functools.partial(compare.update_body, kind=SCHEDULES)


def desired(key: str, fields: Mapping[str, Any], schedule_id: int | None = None) -> DesiredEntry:
    return DesiredEntry(key, schedule_id, dict(fields), "schedules/x.yml", 1)


def email(recipients: list[str], **extra: Any) -> dict[str, Any]:
    return {
        "source_type": "Dashboard",
        "source_id": 1,
        "schedule": {"repeat": "0 8 * * 1", "paused": False},
        "dest": {"type": "EmailDest", "recipients": recipients, **extra},
    }


def server_view(body: Mapping[str, Any], schedule_id: int) -> dict[str, Any]:
    """What a Holistics server returns for a stored body: defaults filled, ids assigned."""
    out = copy.deepcopy(dict(body))
    out["id"] = schedule_id
    out.setdefault("title", None)
    out["schedule"] = {**out["schedule"], "is_archived": False}
    presets = out.get("dynamic_filter_presets") or []
    out["dynamic_filter_presets"] = [
        {"id": 1000 + i, "public_hidden": False, **p, "preset_condition": {"modifier": None, **p["preset_condition"]}}
        for i, p in enumerate(presets)
    ]
    return out


def simulate(the_plan: Any, remote: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Apply a plan to an in-memory workspace as a server would; returns it and the ids created."""
    by_id = {r["id"]: r for r in remote}
    next_id = itertools.count(max(by_id, default=0) + 1)
    created = {}
    for change in the_plan.changes:
        if change.action is Action.CREATE:
            new_id = next(next_id)
            by_id[new_id] = server_view(change.body, new_id)
            created[change.key] = new_id
        elif change.action is Action.UPDATE:
            by_id[change.id] = server_view(change.body, change.id)
        elif change.action is Action.REPLACE:  # delete, then create: the entry's id changes
            del by_id[change.id]
            new_id = next(next_id)
            by_id[new_id] = server_view(change.body, new_id)
            created[change.key] = new_id
        else:
            del by_id[change.id]
    return list(by_id.values()), created


def test_identical_schedule_is_unchanged_whatever_the_server_adds() -> None:
    remote = [server_view(email(["b@x.com", "A@x.com"], options={"attachment_formats": ["pdf", "csv"]}), 5)]
    p = plan([desired("a", email(["a@x.com", "b@x.com"], options={"attachment_formats": ["csv", "pdf"]}), 5)], remote)
    assert p.changes == ()
    assert p.summary == {"create": 0, "update": 0, "delete": 0, "replace": 0, "unchanged": 1, "unmanaged": 0}


def test_entry_without_id_adopts_identical_unclaimed_schedule_lowest_id_first() -> None:
    remote = [server_view(email(["a@x.com"]), 9), server_view(email(["a@x.com"]), 4)]
    p = plan([desired("a", email(["a@x.com"]))], remote)
    assert p.changes == ()
    assert [(m.key, m.id, m.recorded) for m in p.matches] == [("a", 4, False)]
    assert p.unmanaged == (9,)


def test_two_identical_entries_claim_two_schedules_then_create_a_third() -> None:
    remote = [server_view(email(["a@x.com"]), 1), server_view(email(["a@x.com"]), 2)]
    entries = [desired(k, email(["a@x.com"])) for k in ("a", "b", "c")]
    p = plan(entries, remote)
    assert sorted(m.id for m in p.matches) == [1, 2]
    assert [(c.action, c.key) for c in p.changes] == [(Action.CREATE, "c")]


def test_claimed_schedule_is_not_adopted_by_another_entry() -> None:
    remote = [server_view(email(["a@x.com"]), 1)]
    p = plan([desired("a", email(["a@x.com"])), desired("owner", email(["z@x.com"]), 1)], remote)
    assert [(c.action, c.key) for c in p.changes] == [(Action.UPDATE, "owner"), (Action.CREATE, "a")]


def test_update_shows_only_changed_fields_old_to_new() -> None:
    remote = [server_view(email(["a@x.com"], title="T"), 3)]
    want = email(["a@x.com", "c@x.com"], title="T")
    want["schedule"] = {"repeat": "0 9 * * 1", "paused": False}
    (change,) = plan([desired("a", want, 3)], remote).changes
    assert change.action is Action.UPDATE and change.id == 3
    assert [(d.path, d.old, d.new) for d in change.diff] == [
        ("dest.recipients", ["a@x.com"], ["a@x.com", "c@x.com"]),
        ("schedule.repeat", "0 8 * * 1", "0 9 * * 1"),
    ]


def test_fields_left_out_are_not_managed_and_kept_in_the_put_body() -> None:
    remote = server_view(email(["a@x.com"], title="Subject", options={"preview": True}), 3)
    remote["title"] = "Remote title"
    want = email(["b@x.com"])  # no title, no options
    (change,) = plan([desired("a", want, 3)], [remote]).changes
    assert [d.path for d in change.diff] == ["dest.recipients"]
    assert change.body is not None
    assert change.body["title"] == "Remote title"
    assert change.body["dest"]["options"] == {"preview": True}
    assert change.body["dest"]["title"] == "Subject"
    assert "is_archived" not in change.body["schedule"] and "id" not in change.body


def test_dest_type_change_replaces_the_dest_whole() -> None:
    remote = server_view(email(["a@x.com"], options={"preview": True}), 3)
    want = {
        **email([]),
        "dest": {"type": "SlackDest", "slack_channels": [{"id": "C1", "name": "ops", "type": "channel"}]},
    }
    (change,) = plan([desired("a", want, 3)], [remote]).changes
    assert change.body is not None and change.body["dest"] == want["dest"]
    paths = {d.path for d in change.diff}
    assert {"dest.type", "dest.recipients", "dest.slack_channels"} <= paths


def test_preset_ids_defaults_and_string_filter_ids_do_not_diff() -> None:
    preset = {"dynamic_filter_id": "7", "preset_condition": {"operator": "is", "values": ["EMEA"]}}
    remote = server_view({**email(["a@x.com"]), "dynamic_filter_presets": [preset]}, 3)
    remote["dynamic_filter_presets"][0]["dynamic_filter_id"] = 7
    want = {**email(["a@x.com"]), "dynamic_filter_presets": [preset]}
    assert plan([desired("a", want, 3)], [remote]).changes == ()


def test_condition_values_keep_their_order() -> None:
    cond = {"dynamic_filter_id": 1, "preset_condition": {"operator": "between", "values": [1, 5]}}
    swapped = {"dynamic_filter_id": 1, "preset_condition": {"operator": "between", "values": [5, 1]}}
    remote = server_view({**email(["a@x.com"]), "dynamic_filter_presets": [cond]}, 3)
    (change,) = plan([desired("a", {**email(["a@x.com"]), "dynamic_filter_presets": [swapped]}, 3)], [remote]).changes
    assert [d.path for d in change.diff] == ["dynamic_filter_presets"]


def test_unmanaged_are_counted_and_only_prune_deletes_them() -> None:
    remote = [server_view(email(["a@x.com"]), 1), server_view(email(["b@x.com"]), 2)]
    entries = [desired("a", email(["a@x.com"]), 1)]
    kept = plan(entries, remote)
    assert kept.changes == () and kept.unmanaged == (2,) and kept.summary["unmanaged"] == 1
    pruned = plan(entries, remote, prune=True)
    assert [(c.action, c.id, c.key) for c in pruned.changes] == [(Action.DELETE, 2, None)]
    assert pruned.summary["delete"] == 1


def test_an_id_the_workspace_lost_is_created_again_with_the_reason() -> None:
    p = plan([desired("a", email(["a@x.com"]), 99)], [])
    assert [(c.action, c.key, c.id) for c in p.changes] == [(Action.CREATE, "a", None)]
    assert p.changes[0].reason == "schedule 99 was deleted in the workspace; it will be created again"


def test_an_id_the_workspace_lost_adopts_an_identical_unclaimed_schedule_first() -> None:
    p = plan([desired("a", email(["a@x.com"]), 99)], [server_view(email(["a@x.com"]), 7)])
    assert p.changes == ()
    assert [(m.key, m.id, m.recorded) for m in p.matches] == [("a", 7, False)], "apply rewrites the id"


def test_normalize_does_not_mutate_and_update_body_keeps_id_out() -> None:
    remote = server_view(email(["B@x.com", "a@x.com"]), 3)
    before = copy.deepcopy(remote)
    normalize(remote)
    update_body(remote, email(["c@x.com"]))
    assert remote == before


def test_differences_ignore_server_fields() -> None:
    assert differences(email(["a@x.com"]), server_view(email(["a@x.com"]), 1)) == ()


# ---- property: whatever the two states, applying the plan makes the next plan empty ----

emails = st.sampled_from(["a@x.com", "b@x.com", "C@x.com", "d@y.org"])
conditions = st.one_of(
    st.builds(
        lambda v: {"operator": "is", "values": v}, st.lists(st.sampled_from(["EMEA", "APAC", 1, True]), max_size=3)
    ),
    st.just({"operator": "is_null", "values": []}),
    st.builds(lambda a, b: {"operator": "between", "values": [a, b]}, st.integers(0, 9), st.integers(0, 9)),
    st.builds(
        lambda n, m: {"operator": "last", "values": [n], "modifier": m},
        st.integers(1, 5),
        st.sampled_from(["day", "week"]),
    ),
)
presets = st.lists(
    st.fixed_dictionaries(
        {"dynamic_filter_id": st.sampled_from([1, 2, "3"]), "preset_condition": conditions},
        optional={"public_hidden": st.booleans()},
    ),
    max_size=2,
)
dests = st.one_of(
    st.fixed_dictionaries(
        {"type": st.just("EmailDest"), "recipients": st.lists(emails, min_size=1, max_size=3, unique=True)},
        optional={
            "title": st.one_of(st.none(), st.sampled_from(["Sales", "Ops {{$today}}"])),
            "options": st.fixed_dictionaries(
                {},
                optional={
                    "preview": st.booleans(),
                    "attachment_formats": st.lists(st.sampled_from(["pdf", "csv", "xlsx"]), unique=True, max_size=3),
                },
            ),
        },
    ),
    st.fixed_dictionaries(
        {
            "type": st.just("SlackDest"),
            "slack_channels": st.lists(st.sampled_from([{"id": "C1"}, {"id": "C2"}]), unique_by=str, min_size=1),
        },
        optional={"message": st.one_of(st.none(), st.just("hi"))},
    ),
    st.fixed_dictionaries(
        {"type": st.just("GsheetDest"), "sheet_url": st.sampled_from(["u1", "u2"]), "sheet_title": st.just("t")}
    ),
    st.fixed_dictionaries(
        {"type": st.just("SftpDest"), "data_source_id": st.integers(1, 2), "file_path": st.sampled_from(["/a", "/b"])},
        optional={"separator": st.sampled_from([",", ";", None]), "format": st.sampled_from(["csv", "xlsx"])},
    ),
)
schedules = st.fixed_dictionaries(
    {
        "source_type": st.sampled_from(["Dashboard", "QueryReport"]),
        "source_id": st.integers(1, 2),
        "schedule": st.fixed_dictionaries(
            {"repeat": st.sampled_from(["0 8 * * 1", "*/5 * * * *"]), "paused": st.booleans()}
        ),
        "dest": dests,
    },
    optional={"title": st.one_of(st.none(), st.sampled_from(["A", "B"])), "dynamic_filter_presets": presets},
)


@st.composite
def states(draw: st.DrawFn) -> tuple[list[DesiredEntry], list[dict[str, Any]]]:
    remote = [server_view(body, i + 1) for i, body in enumerate(draw(st.lists(schedules, max_size=6)))]
    ids = [r["id"] for r in remote]
    entries = []
    claimed: set[int] = set()
    for i, body in enumerate(draw(st.lists(schedules, max_size=6))):
        schedule_id = draw(st.one_of(st.none(), st.sampled_from(ids))) if ids else None
        if schedule_id in claimed:
            schedule_id = None
        if schedule_id is not None:
            claimed.add(schedule_id)
        entries.append(desired(f"k{i}", body, schedule_id))
    # some entries copy a remote schedule exactly, without its id: adoption by content
    for j, r in enumerate(draw(st.lists(st.sampled_from(remote), max_size=2)) if remote else []):
        body = {k: v for k, v in r.items() if k != "id"}
        entries.append(desired(f"copy{j}", body))
    return entries, remote


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(states(), st.booleans(), st.booleans())
def test_apply_then_plan_is_empty(state: Any, prune: bool, keep_ids: bool) -> None:
    entries, remote = state
    first = plan(entries, remote, prune=prune)
    after, created = simulate(first, remote)
    if keep_ids:  # apply recorded the ids; without (CI not committing back) matching must find them
        entries = [
            desired(
                e.key,
                e.fields,
                created.get(e.key) or e.id or next((m.id for m in first.matches if m.key == e.key), None),
            )
            for e in entries
        ]
    second = plan(entries, after, prune=prune)
    assert second.changes == (), [(c.action, c.key, c.diff) for c in second.changes]
    # never a duplicate: every entry is matched to a distinct schedule
    assert len({m.id for m in second.matches}) == len(entries)
    if prune:
        assert len(after) == len(entries)


def test_less_specific_entry_does_not_steal_the_schedule_of_a_more_specific_one() -> None:
    titled = {**email(["a@x.com"]), "title": "A"}
    remote = [server_view(titled, 1), server_view(email(["a@x.com"]), 2)]
    # "loose" comes first and could take id 1 (it agrees on every field it sets), leaving "titled"
    # nothing but a duplicate create; and id 1 has a title "loose" does not mention anyway
    p = plan([desired("loose", email(["a@x.com"])), desired("titled", titled)], remote)
    assert p.changes == ()
    assert {m.key: m.id for m in p.matches} == {"loose": 2, "titled": 1}


def test_an_entry_does_not_adopt_a_schedule_with_content_it_does_not_mention() -> None:
    filtered = server_view(
        {
            **email(["a@x.com"]),
            "dynamic_filter_presets": [
                {"dynamic_filter_id": 7, "preset_condition": {"operator": "is", "values": ["EMEA"]}}
            ],
        },
        4,
    )
    titled = server_view({**email(["a@x.com"]), "title": "Someone's report"}, 5)
    bodied = server_view(email(["a@x.com"], options={"body_text": "Hello", "preview": True}), 6)
    p = plan([desired("new", email(["a@x.com"]))], [filtered, titled, bodied])
    assert [(c.action, c.key) for c in p.changes] == [(Action.CREATE, "new")]
    # the server's own defaults (nulls, booleans) do not stand in the way
    plain = server_view(email(["a@x.com"], options={"preview": False, "body_text": None}), 7)
    assert plan([desired("new", email(["a@x.com"]))], [plain]).changes == ()
