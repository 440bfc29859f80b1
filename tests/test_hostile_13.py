"""Issue 13's background reads, tried by a hostile user: what a failed plan leaves behind."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from reconciler.client import HolisticsClient
from reconciler.sandbox import Sandbox
from reconciler.sandbox.api import ApiError
from reconciler.workspace import Reads


class YamlInvalid(Exception):
    """Stands for the InvalidSchedules a plan raises inside `Reads`."""


@pytest.fixture
def sb() -> Iterator[Sandbox]:
    with Sandbox(seed="example") as sandbox:
        yield sandbox


def test_reads_give_back_the_switch_interval_they_lowered(sb: Sandbox) -> None:
    """A process-wide setting: a library caller's threads must not stay at 1 ms after a plan."""
    before = sys.getswitchinterval()
    with HolisticsClient(sb.base_url, sb.key) as client, Reads(client, lambda _: True) as reads:
        reads.remote([])
    assert sys.getswitchinterval() == before


def test_an_answer_arriving_after_cancel_announces_no_retry(sb: Sandbox) -> None:
    """Invalid YAML cancels the reads; a 500 that comes back afterwards ends the request, and `-v`
    must not print "retry 1/4" for a retry that is never made (after the command's Error line)."""
    exited, answered = threading.Event(), threading.Event()

    def hook(method: str, path: str, query: Mapping[str, Any]) -> None:
        if path.endswith("/data_schedules"):
            exited.wait(10)  # hold the answer until the plan has given up
            answered.set()
            raise ApiError(500, "InternalHolisticsError", "boom")

    sb.control.set_api_hook(hook)
    events: list[str] = []
    with HolisticsClient(sb.base_url, sb.key, on_event=events.append) as client:
        with pytest.raises(YamlInvalid), Reads(client, lambda _: True, with_sources=False):
            raise YamlInvalid
        exited.set()
        assert answered.wait(10)
        for thread in threading.enumerate():
            if thread.name == "listing":
                thread.join(10)
    assert not [e for e in events if "retry" in e]
