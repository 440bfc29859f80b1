"""Pacing under a quota: `--rate-limit N/S` never sends more than N requests in any S seconds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.remote.client import ConfigError, RateLimiter, default_rate_limit
from reconciler.sandbox import Sandbox


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_window_allows_a_burst_of_n_then_waits_for_the_oldest_to_leave_the_window() -> None:
    clock = FakeClock()
    limiter = RateLimiter(None, window=(3, 10.0), clock=clock, sleep=clock.sleep)
    starts = []
    for _ in range(7):
        limiter.acquire()
        starts.append(clock.now)
        clock.now += 0.1
    assert starts[:3] == pytest.approx([0.0, 0.1, 0.2])
    assert starts[3] == pytest.approx(10.3) and starts[6] == pytest.approx(20.6)
    for i in range(3, 7):  # any three consecutive starts span at least the window
        assert starts[i] - starts[i - 3] >= 10.0


@pytest.mark.parametrize("text", ["x/60", "0/60", "10/0", "-1/5"])
def test_bad_rate_limits_are_config_errors(text: str) -> None:
    with pytest.raises(ConfigError, match="rate limit"):
        RateLimiter.from_text(text)


def test_none_turns_pacing_off() -> None:
    limiter = RateLimiter.from_text("none")
    assert limiter.window is None and limiter.rate_per_second is None


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://secure.holistics.io/api/v2", "120/60"),
        ("https://eu.holistics.io/api/v2", "120/60"),
        ("http://127.0.0.1:8765/api/v2", None),
        ("https://holistics.io.example.com/api/v2", None),
    ],
)
def test_holistics_hosts_are_paced_by_default(url: str, expected: str | None) -> None:
    assert default_rate_limit(url) == expected


def apply_under_quota(sb: Sandbox, tmp_path: Path, *flags: str) -> int:
    entries = {
        f"s{i}": {
            "source_type": "QueryReport",
            "source_id": 5301,
            "schedule": {"repeat": f"{i} 6 * * *"},
            "dest": {"type": "GsheetDest", "sheet_url": f"https://example.com/{i}", "sheet_title": "t"},
        }
        for i in range(30)
    }
    (tmp_path / "schedules").mkdir()
    (tmp_path / "schedules" / "a.yml").write_text(json.dumps({"schedules": entries}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOLISTICS_")}
    env |= {"HOLISTICS_BASE_URL": sb.base_url, "HOLISTICS_API_KEY": sb.key}
    result = subprocess.run(
        [sys.executable, "-m", "reconciler", "apply", "--auto-approve", *flags],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert len(sb.control.schedules()) == 30
    return sum(1 for r in sb.control.requests() if r["status"] == 429)


@pytest.mark.slow
def test_paced_apply_stays_under_the_servers_quota(tmp_path: Path) -> None:
    with Sandbox(seed="empty", rate_limit=(10, 0.5)) as sb:
        assert apply_under_quota(sb, tmp_path, "--rate-limit", "10/0.5", "--parallelism", "4") == 0


@pytest.mark.slow
def test_unpaced_apply_meets_429s_and_still_lands_everything(tmp_path: Path) -> None:
    with Sandbox(seed="empty", rate_limit=(10, 0.5)) as sb:
        assert apply_under_quota(sb, tmp_path, "--rate-limit", "none", "--parallelism", "4") > 0


def test_a_base_url_without_api_v2_is_refused_up_front() -> None:
    from reconciler.remote.client import resolve_base_url

    with pytest.raises(ConfigError, match="ending in /api/v2"):
        resolve_base_url(None, "http://127.0.0.1:8765")
    assert resolve_base_url(None, "http://127.0.0.1:8765/api/v2/") == "http://127.0.0.1:8765/api/v2"
    assert (
        resolve_base_url(None, "https://proxy.example.com/holistics/api/v2")
        == "https://proxy.example.com/holistics/api/v2"
    )


def test_a_bare_count_is_refused_and_shows_the_n_s_form() -> None:
    from reconciler.remote.client import parse_rate

    with pytest.raises(ConfigError, match="N/S") as err:
        parse_rate("120")
    assert "120/60" in str(err.value), "the message suggests the per-minute reading"


@pytest.mark.parametrize(
    "text",
    [
        "10/nan",
        "10/NaN",
        "10/inf",
        "10/-inf",
        "10/Infinity",
        "10/1e400",
        "10/-0",
        "nan/10",
        "inf/10",
        "10/",
        "/10",
        "10/60/2",
        "",
    ],
)
def test_a_window_must_be_finite_and_positive(text: str) -> None:
    from reconciler.remote.client import parse_rate

    with pytest.raises(ConfigError, match="rate limit"):
        parse_rate(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("120/60", (120, 60.0)), (" 10 / 0.5 ", (10, 0.5)), ("none", None), ("OFF", None), ("0", None)],
)
def test_rates_that_parse(text: str, expected: tuple[int, float] | None) -> None:
    from reconciler.remote.client import parse_rate

    assert parse_rate(text) == expected
