"""What every kind declares without its models (`reconciler.kinds`): the same source and destination
types as the models, and nothing of pydantic or the spec loaded to list a workspace (issue 22: the
listing's first request waits for no import it does not need)."""

from __future__ import annotations

import subprocess
import sys
from typing import get_args

import pytest

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
