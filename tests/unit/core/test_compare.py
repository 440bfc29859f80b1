"""`compare.differences` takes a short cut for items equal as they are (issue 22): it must give
exactly what comparing the normalised forms gives, for schedules and alerts alike."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.core import compare
from reconciler.kinds import Kind
from reconciler.kinds.alerts import ALERTS
from reconciler.kinds.schedules import SCHEDULES


def _slow(desired: dict[str, Any], remote: dict[str, Any], kind: Kind) -> Any:
    """The comparison without the short cut: both sides normalised first."""
    return compare.normalized_differences(compare.normalize(desired, kind), compare.normalize(remote, kind))


_numbers = st.one_of(st.integers(-3, 3), st.sampled_from([1.0, 0.0, -0.0, 1.5]))
_scalars = st.one_of(st.none(), st.booleans(), _numbers, st.sampled_from(["a", "B", "7"]))
_emails = st.lists(st.sampled_from(["a@x.io", "A@x.io", "b@x.io ", "c@y.io"]), max_size=3)
_channels = st.lists(
    st.fixed_dictionaries({"id": st.sampled_from(["C1", "C2"])}, optional={"name": st.sampled_from(["x", "y"])}),
    max_size=3,
)
_presets = st.lists(
    st.fixed_dictionaries(
        {"dynamic_filter_id": st.sampled_from([7, "7", 8])},
        optional={
            "id": st.integers(1, 3),
            "public_hidden": st.sampled_from([None, False, True]),
            "preset_condition": st.fixed_dictionaries(
                {"operator": st.sampled_from(["is", "between"])},
                optional={"values": st.lists(_scalars, max_size=2), "modifier": st.sampled_from([None, "x"])},
            ),
        },
    ),
    max_size=2,
)
_dest = st.fixed_dictionaries(
    {"type": st.sampled_from(["EmailDest", "SlackDest"])},
    optional={
        "recipients": _emails,
        "slack_channels": _channels,
        "title": _scalars,
        "options": st.fixed_dictionaries(
            {}, optional={"attachment_formats": st.lists(st.sampled_from(["csv", "pdf"]), max_size=3)}
        ),
    },
)
_item = st.fixed_dictionaries(
    {},
    optional={
        "id": st.integers(1, 3),
        "title": _scalars,
        "source_id": st.sampled_from([1, "1", 2]),
        "schedule": st.fixed_dictionaries(
            {}, optional={"repeat": st.sampled_from(["0 8 * * *", "0 9 * * *"]), "is_archived": st.booleans()}
        ),
        "dynamic_filter_presets": _presets,
        "dest": _dest,
        "viz_conditions": st.lists(
            st.fixed_dictionaries({}, optional={"aggregation": _scalars, "field_path": st.fixed_dictionaries({})}),
            max_size=2,
        ),
    },
)


@st.composite
def _pairs(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    """A desired item, and a remote one that is often the same with server fields and others added."""
    desired = draw(_item)
    if draw(st.booleans()):
        return desired, draw(_item)
    remote = _retyped(copy.deepcopy(desired), draw)  # a server may answer 1.0 for 1: equal, not the same JSON
    remote.update(draw(st.fixed_dictionaries({}, optional={"id": st.integers(1, 3), "extra": _scalars})))
    if isinstance(remote.get("dest"), dict):
        remote["dest"].update(draw(st.fixed_dictionaries({}, optional={"id": st.integers(), "extra": _scalars})))
        if draw(st.booleans()):  # what no YAML holds, a server may: compared, never a crash
            odd = draw(st.sampled_from([None, True, 1]))
            where = draw(st.sampled_from(["recipients", "attachment_formats"]))
            holder = remote["dest"] if where == "recipients" else remote["dest"].setdefault("options", {})
            holder[where] = [*(holder.get(where) or []), odd] if isinstance(holder, dict) else [odd]
    if isinstance(remote.get("schedule"), dict) and draw(st.booleans()):
        remote["schedule"]["is_archived"] = False
    for preset in remote.get("dynamic_filter_presets", []):
        if draw(st.booleans()):
            preset["id"] = draw(st.integers(1, 9))  # the server's, which the YAML never carries
    return desired, remote


def _retyped(value: Any, draw: st.DrawFn) -> Any:
    if isinstance(value, dict):
        return {k: _retyped(v, draw) for k, v in value.items()}
    if isinstance(value, list):
        return [_retyped(v, draw) for v in value]
    if type(value) is int and draw(st.booleans()):
        return float(value)
    return value


@pytest.mark.parametrize("kind", [SCHEDULES, ALERTS], ids=["schedules", "alerts"])
@settings(max_examples=400, deadline=None)
@given(pair=_pairs())
def test_the_short_cut_gives_what_normalising_gives(kind: Kind, pair: tuple[dict[str, Any], dict[str, Any]]) -> None:
    desired, remote = pair
    assert compare.differences(desired, remote, kind) == _slow(desired, remote, kind)


def test_differences_that_normalising_erases_are_still_no_change() -> None:
    """Not equal as they are, equal once normalised: the long way must still say so."""
    desired = {"dest": {"type": "EmailDest", "recipients": ["B@x.io", "a@x.io"]}}
    remote = {"id": 1, "dest": {"type": "EmailDest", "recipients": ["a@x.io", "b@x.io"], "id": 9}}
    assert compare.project(remote, desired) != desired
    assert compare.differences(desired, remote, SCHEDULES) == ()


def test_an_item_equal_as_it_is_has_no_differences_and_a_changed_one_has_its_own() -> None:
    desired = {"title": "t", "dest": {"type": "EmailDest", "recipients": ["a@x.io"]}}
    remote = {"id": 1, "title": "t", "dest": {"type": "EmailDest", "recipients": ["a@x.io"], "id": 3}}
    assert compare.differences(desired, remote, SCHEDULES) == ()
    changed = {**desired, "title": "u"}
    assert [d.path for d in compare.differences(changed, remote, SCHEDULES)] == ["title"]


def test_lists_normalising_sorts_are_compared_the_long_way() -> None:
    """`1` and `1.0` are equal to Python, not as JSON: normalising may sort two such lists apart, and
    then the plan shows the change it always showed (found by a hostile run)."""
    presets = [
        {"dynamic_filter_id": 7, "preset_condition": {"operator": "is", "values": [v], "modifier": None}}
        for v in (1, 1.5)
    ]
    desired = {"dynamic_filter_presets": presets}
    remote = {"id": 1, "dynamic_filter_presets": copy.deepcopy(presets)}
    remote["dynamic_filter_presets"][0]["preset_condition"]["values"] = [1.0]
    assert compare.differences(desired, remote, SCHEDULES) == _slow(desired, remote, SCHEDULES) != ()


def test_lists_the_same_as_json_take_the_short_cut(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two presets and two channels, unchanged, the server's ids aside: equal as JSON too, so nothing is
    normalised (most of a large workspace's entries with presets are so)."""
    presets = [{"dynamic_filter_id": i, "preset_condition": {"operator": "is", "values": [i]}} for i in (7, 8)]
    channels = [{"id": "C1"}, {"id": "C2"}]
    desired = {"dynamic_filter_presets": presets, "dest": {"type": "SlackDest", "slack_channels": channels}}
    remote = copy.deepcopy(desired) | {"id": 1}
    for i, preset in enumerate(remote["dynamic_filter_presets"]):
        preset["id"] = 10 + i
    expected = _slow(desired, remote, SCHEDULES)

    def refuse(*_: Any) -> Any:
        raise AssertionError("normalised: the short cut was not taken")

    monkeypatch.setattr(compare, "normalize", refuse)
    assert compare.differences(desired, remote, SCHEDULES) == expected == ()


def _whole(new: dict[str, Any], remote: dict[str, Any]) -> tuple[str, ...]:
    """The changed paths as DeepDiff finds them in the whole items (what `_apart` narrows down)."""
    from deepdiff import DeepDiff

    old = compare.project(remote, new)
    if old == new:
        return ()
    tree = DeepDiff(old, new, view="tree", threshold_to_diff_deeper=0)
    paths = set()
    for items in tree.values():
        for item in items:
            parts = item.path(output_format="list")
            cut = next((i for i, p in enumerate(parts) if isinstance(p, int)), len(parts))
            paths.add(".".join(str(p) for p in parts[:cut]))
    return tuple(sorted(paths))


_nan = st.builds(float, st.just("nan"))  # a new one each time: equal to no other, as JSON to every other
_leaves = st.one_of(st.none(), st.booleans(), st.sampled_from([0, 1, 1.0, 0.0, -0.0, "a", "1"]), _nan)
_values = st.recursive(
    _leaves,
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.sampled_from(["x", "y"]), inner, max_size=2),
    max_leaves=6,
)
_fields = st.dictionaries(st.sampled_from(["a", "b", "c"]), _values, max_size=3)


@settings(max_examples=500, deadline=None)
@given(new=_fields, remote=_fields)
def test_deepdiff_on_the_fields_apart_finds_what_it_finds_in_the_whole_items(
    new: dict[str, Any], remote: dict[str, Any]
) -> None:
    """Only the top-level fields that may differ go to DeepDiff (issue 22): `1` against `1.0`, `True`
    against `1`, NaN against NaN still count wherever another field makes the items differ."""
    assert tuple(d.path for d in compare.normalized_differences(new, remote)) == _whole(new, remote)


def test_a_value_normalising_cannot_order_is_compared_not_a_crash() -> None:
    """A server's null among the attachment formats made the plan end in a TypeError (found by a
    hostile run): managed or not, it is compared (by JSON where Python cannot order it)."""
    desired = {"title": "new", "dest": {"type": "EmailDest", "recipients": ["a@x.io"]}}
    options = {"attachment_formats": ["pdf", None]}
    remote = {"id": 1, "title": "old", "dest": {"type": "EmailDest", "recipients": ["a@x.io"], "options": options}}
    assert [d.path for d in compare.differences(desired, remote, SCHEDULES)] == ["title"]
    managed = {**desired, "dest": {**desired["dest"], "options": {"attachment_formats": ["pdf"]}}}
    paths = [d.path for d in compare.differences(managed, remote, SCHEDULES)]
    assert paths == [d.path for d in _slow(managed, remote, SCHEDULES)] == ["dest.options.attachment_formats", "title"]


def test_a_field_equal_to_python_is_still_normalised_where_normalising_tells_types_apart() -> None:
    """`[1]` and `[True]` are equal to Python, not once normalised (`"1"`, `"true"`): with another field
    apart as it is, the recipients are compared the long way too (found by a hostile run)."""
    desired = {"dest": {"type": "EmailDest", "recipients": [1]}, "dynamic_filter_presets": [{"dynamic_filter_id": "7"}]}
    remote = {"dest": {"type": "EmailDest", "recipients": [True]}, "dynamic_filter_presets": [{"dynamic_filter_id": 7}]}
    assert compare.differences(desired, remote, SCHEDULES) == _slow(desired, remote, SCHEDULES) != ()
