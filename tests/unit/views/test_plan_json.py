"""`plan_json.dumps` writes exactly what `json.dumps(indent=2, ensure_ascii=False, default=str)` writes,
for any document: its own layout of plain dicts, lists and flat dicts, json's for the rest."""

from __future__ import annotations

import datetime as dt
import enum
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.views import plan_json
from tests.helpers import sample_plan


def reference(doc: Any) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False, default=str)


class Level(enum.IntEnum):
    HIGH = 2


class Name(str):
    pass


# Text json must escape (quotes, backslashes, control characters) beside non-ASCII that it must not.
texts = st.text() | st.text(st.sampled_from('"\\/\n\r\t\x00\x1f\x7f\x85\u2028é€😀a {}[],: '))
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.floats()
    | st.sampled_from([1e16, -0.0, 1e-7, 2.5, float("nan"), float("inf"), -float("inf")])
    | texts
)
# What json writes its own way: tuples as lists, str and int subclasses, and others by `default=str`.
others = st.dates() | st.builds(Name, texts) | st.just(Level.HIGH) | st.tuples(scalars) | st.just(set())
keys = texts | st.builds(Name, texts) | st.integers() | st.floats() | st.booleans() | st.none()
flat_dicts = st.lists(st.dictionaries(texts, scalars, max_size=6), max_size=6)
documents = st.recursive(
    scalars | others | flat_dicts,
    lambda inner: (
        st.lists(inner, max_size=5)
        | st.dictionaries(texts, inner, max_size=5)
        | st.dictionaries(keys, inner, max_size=3)
        | st.lists(st.dictionaries(texts, scalars | others, min_size=1, max_size=3), max_size=3)
    ),
    max_leaves=30,
)


@settings(max_examples=400, deadline=None)
@given(documents)
def test_dumps_writes_what_json_writes(doc: Any) -> None:
    assert plan_json.dumps(doc) == reference(doc)


@pytest.mark.parametrize(
    "doc",
    [
        {},
        [],
        {"a": [], "b": {}, "c": [{}], "d": [{}, {"k": 1}], "e": [[{"k": None}]]},
        {"matches": [{"kind": "schedules", "key": "k\u2028\x00", "id": 10**20, "recorded": True, "f": 1e16}]},
        {"x": [{"t": dt.date(2024, 1, 2)}], "y": [{1: "int key"}], "z": [{Name("n"): Level.HIGH}]},
    ],
)
def test_dumps_writes_what_json_writes_for_edges(doc: Any) -> None:
    assert plan_json.dumps(doc) == reference(doc)


def test_a_cycle_is_json_s_error() -> None:
    doc: dict[str, Any] = {"a": [{"k": 1}]}
    doc["a"].append(doc)
    with pytest.raises(ValueError, match="Circular reference"):
        plan_json.dumps(doc)


def test_to_json_is_the_plan_s_dict_as_json_wrote_it() -> None:
    plan = sample_plan()
    assert plan_json.to_json(plan) == reference(plan_json.as_dict(plan)) + "\n"
