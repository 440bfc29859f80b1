"""What every kind declares without its models (`reconciler.kinds`): the same source and destination
types as the models, and nothing of pydantic or the spec loaded to list a workspace (issue 22: the
listing's first request waits for no import it does not need)."""

from __future__ import annotations

import subprocess
import sys
from typing import Any, get_args

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.kinds import Kind
from reconciler.kinds.alerts import ALERTS
from reconciler.kinds.alerts import models as alert_models
from reconciler.kinds.schedules import SCHEDULES
from reconciler.kinds.schedules import models as schedule_models


@pytest.mark.parametrize(
    ("kind", "models", "spec"),
    [
        (SCHEDULES, schedule_models, schedule_models.DataScheduleSpec),
        (ALERTS, alert_models, alert_models.DataAlertSpec),
    ],
)
def test_a_kind_declares_the_types_its_models_accept(kind: Kind, models: object, spec: type) -> None:
    assert kind.dest_types == models.DEST_TYPES  # type: ignore[attr-defined]
    assert kind.source_types == get_args(models.SourceType)  # type: ignore[attr-defined]
    assert kind.model is spec


def test_the_kinds_load_without_pydantic_or_the_spec() -> None:
    probe = (
        "import sys; from reconciler.kinds.known import KINDS; "
        "print(sorted(m for m in ('pydantic', 'reconciler.spec', 'yaml', 'ruamel') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


_json = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-2, 2), st.sampled_from(["a", "is_archived", "id"])),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(["id", "is_archived", "x"]), inner, max_size=3)
    ),
    max_leaves=8,
)
_items = st.dictionaries(
    st.sampled_from(["id", "title", "schedule", "dynamic_filter_presets", "viz_conditions", "dest"]), _json, max_size=6
)


@pytest.mark.parametrize("kind", [SCHEDULES, ALERTS], ids=["schedules", "alerts"])
@settings(max_examples=300, deadline=None)
@given(item=_items, keys=st.sets(st.sampled_from(["id", "title", "schedule", "dynamic_filter_presets", "dest"])))
def test_what_the_server_assigns_is_stripped_field_by_field(kind: Kind, item: dict[str, Any], keys: set[str]) -> None:
    """`core.compare` strips a whole item once and takes fields from it: each field must come out as
    it would stripped alone (`WithoutServerFields`)."""
    whole = kind.without_server_fields(item)
    alone = kind.without_server_fields({k: v for k, v in item.items() if k in keys})
    assert alone == {k: v for k, v in whole.items() if k in keys}
