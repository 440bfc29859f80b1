"""Property: random interleavings of faults and runs never leave more schedules than entries.

Each example is a sequence of applies of one schedules repo against the sandbox, each run under
random faults (creates that land after their answer was lost, drops before and after the store,
5xx, 429), sometimes with the ids lost (CI that does not commit them back), sometimes two runs at
once on the checkout. After every run the workspace holds no more schedules than entries; a last
run without faults converges with every id recorded and no title twice.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.desired.yamlread import load
from reconciler.sandbox import Sandbox
from reconciler.usecases import lock
from reconciler.usecases.applying import apply
from reconciler.usecases.lock import LockHeld
from tests.helpers import FAULT_KEY as KEY
from tests.helpers import fast_client, new_entries, plan_of, write_yaml

pytestmark = pytest.mark.slow  # a property test: many applies per example

# long enough for a late create of LATE_MS to be seen by its own run, short enough for many examples
SETTLE = (0.05, 0.1, 0.2, 0.4)
LATE_MS = 300

FAULTS: list[dict[str, Any]] = [
    {"method": "POST", "path": "/data_schedules", "status": 504, "when": "late", "delay_ms": LATE_MS},
    {"method": "POST", "path": "/data_schedules", "status": None, "drop": True, "when": "late", "delay_ms": 0},
    {"method": "POST", "path": "/data_schedules", "status": None, "drop": True, "when": "before"},
    {"method": "POST", "path": "/data_schedules", "status": None, "drop": True, "when": "after"},
    {"method": "POST", "path": "/data_schedules", "status": 500, "when": "after"},
    {"method": "POST", "path": "/data_schedules", "status": 502, "when": "before"},
    {"method": "GET", "path": "/data_schedules", "status": 503, "when": "before"},
    {"method": "*", "path": "*", "status": 429, "when": "before"},
]


@st.composite
def histories(draw: st.DrawFn) -> dict[str, Any]:
    runs = [
        {
            "faults": draw(st.lists(st.sampled_from(range(len(FAULTS))), max_size=3)),
            "lose_ids": draw(st.booleans()),
            "concurrent": draw(st.booleans()),
            "parallelism": draw(st.integers(1, 4)),
        }
        for _ in range(draw(st.integers(1, 3)))
    ]
    return {"entries": draw(st.integers(1, 5)), "runs": runs}


@pytest.fixture(scope="module")
def shared() -> Iterator[Sandbox]:
    with Sandbox(key=KEY, seed="empty") as sandbox:
        yield sandbox


def one_run(sb: Sandbox, root: Path, path: Path, parallelism: int) -> str:
    """What `apply` does: hold the checkout, plan, apply; a run refused by the lock does nothing."""
    try:
        with lock.exclusive(root, "apply"), fast_client(sb) as client:
            report = apply(plan_of(client, [path]).plan, client, parallelism=parallelism, settle_waits=SETTLE)
    except LockHeld:
        return "locked out"
    # the only failure a run may leave is a create of unknown outcome, for the next run
    assert all("not sent again" in r.message for r in report.failed), [r.message for r in report.failed]
    return "ok" if report.ok else "left for the next run"


@settings(
    max_examples=25,
    derandomize=True,  # the same examples every run, so the coverage check below is not left to chance
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(history=histories())
def test_no_interleaving_makes_more_schedules_than_entries(shared: Sandbox, history: dict[str, Any]) -> None:
    sb = shared
    sb.control.clear_faults()
    sb.control.put_schedules([])
    entries = new_entries(history["entries"], prefix="p")
    seen: set[str] = set()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        path = write_yaml(root / "schedules", entries)
        pristine = path.read_text()
        for run in history["runs"]:
            if run["lose_ids"]:
                path.write_text(pristine)  # the ids a run recorded were never committed
            for i in run["faults"]:
                sb.control.add_fault(**FAULTS[i], count=1)
            runs = 2 if run["concurrent"] else 1
            outcomes: list[str] = []

            def attempt(parallelism: int = run["parallelism"], into: list[str] = outcomes) -> None:
                into.append(one_run(sb, root, path, parallelism))

            threads = [threading.Thread(target=attempt) for _ in range(runs)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=120)
            assert len(outcomes) == runs, "a run raised: see the thread's traceback above"
            sb.control.clear_faults()
            assert sb.control.wait_for_late_writes(timeout=10)
            assert len(sb.control.schedules()) <= len(entries), (history, outcomes)
            seen.update(outcomes)
            seen.update(f"{r['method']} {r['status']}" for r in sb.control.requests())
            sb.control.clear_requests()

        with fast_client(sb) as client:
            assert apply(plan_of(client, [path]).plan, client, settle_waits=SETTLE).ok
            final = plan_of(client, [path]).plan
        assert final.changes == (), [(c.action, c.key) for c in final.changes]
        assert len(sb.control.schedules()) == len(entries), "a create was duplicated or lost"
        assert not [t for t, n in Counter(s["title"] for s in sb.control.schedules()).items() if n > 1]
        ids = [d.id for d in load([path])]
        assert None not in ids and len(set(ids)) == len(ids), "every entry's id is recorded, each once"
        shutil.rmtree(root / "schedules")
    SEEN.update(seen)


SEEN: set[str] = set()  # what the examples exercised, so the property cannot pass by missing the faults


@pytest.fixture(scope="module", autouse=True)
def _faults_were_exercised() -> Iterator[None]:
    yield
    # after every example (derandomized: the same ones each run): each kind of fault and outcome was hit.
    # A run locked out by its twin depends on timing; tests/e2e/test_no_duplicates_and_saved_plans.py holds
    # the lock deterministically
    assert {"POST 504", "GET 503", "left for the next run", "ok"} <= SEEN, SEEN
    assert any(s in SEEN for s in ("POST 500", "POST 502")), SEEN
    assert any(s.endswith(" 429") for s in SEEN), SEEN
