"""The floor to beat: the simplest client there is, reading every item and nothing else.

`python -m bench.bare [MODE] BASE_URL OUT.json` (the key in HOLISTICS_API_KEY), MODE one of:

- `sequential` (the default): one `requests.Session`, `GET /data_schedules?limit=100` following
  `cursors.next`, page after page;
- `two-ended`: that walk and a descending one (`sort=id_desc`) at once, each in its own thread and
  session, until they meet (the ascending walk's highest id + 1 >= the descending walk's lowest, or
  either reaches its end); the result is the ascending pages, then the descending ones above them;
- `mixed`: `two-ended` for the schedules, the alerts' one forward walk (their listing neither sorts
  nor counts) and one `GET /dashboards/list_metadata`, all three at once.

Each page is decoded with `.json()` and kept, nothing checked, nothing else done. Written to OUT.json:
the reading time (first request to last page decoded) and how many items were read; the process's
own time from start to exit is measured by the parent.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

import requests

MODES = ("sequential", "two-ended", "mixed")


def read_all(session: requests.Session, base_url: str, key: str, path: str = "data_schedules") -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 100}
    while True:
        data = session.get(f"{base_url}/{path}", params=params, headers={"X-Holistics-Key": key}).json()
        items += data[path]
        after = (data.get("cursors") or {}).get("next")
        if not after:
            return items
        params["after"] = after


class _Meeting:
    """Where the two walks have got to; either ends both once they meet."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.top: int | None = None  # the ascending walk's highest id
        self.low: int | None = None  # the descending walk's lowest id
        self.done = False
        self.pages: dict[bool, list[dict[str, Any]]] = {False: [], True: []}

    def walk(self, base_url: str, key: str, descending: bool) -> None:
        params: dict[str, Any] = {"limit": 100, **({"sort": "id_desc"} if descending else {})}
        with requests.Session() as session:
            while not self.done:
                data = session.get(f"{base_url}/data_schedules", params=params, headers={"X-Holistics-Key": key}).json()
                items = data["data_schedules"]
                after = (data.get("cursors") or {}).get("next")
                with self.lock:
                    if self.done:
                        return
                    self.pages[descending] += items
                    if items and descending:
                        self.low = items[-1]["id"]
                    elif items:
                        self.top = items[-1]["id"]
                    met = self.top is not None and self.low is not None and self.top + 1 >= self.low
                    if not after or met:
                        self.done = True
                        return
                params["after"] = after

    def merged(self) -> list[dict[str, Any]]:
        ascending, descending = self.pages[False], self.pages[True]
        if self.top is None:
            return list(reversed(descending))
        return ascending + [s for s in reversed(descending) if s["id"] > self.top]


def read_two_ended(base_url: str, key: str) -> list[dict[str, Any]]:
    meeting = _Meeting()
    down = threading.Thread(target=meeting.walk, args=(base_url, key, True))
    down.start()
    meeting.walk(base_url, key, False)
    down.join()
    return meeting.merged()


def read_mixed(base_url: str, key: str) -> list[dict[str, Any]]:
    """Schedules from both ends, alerts and the dashboards' metadata: all at once."""
    alerts: list[dict[str, Any]] = []
    metadata: list[Any] = []

    def read_alerts() -> None:
        with requests.Session() as session:
            alerts.extend(read_all(session, base_url, key, "data_alerts"))

    def read_metadata() -> None:
        with requests.Session() as session:
            answer = session.get(f"{base_url}/dashboards/list_metadata", headers={"X-Holistics-Key": key})
            metadata.append(answer.json())

    others = [threading.Thread(target=read_alerts), threading.Thread(target=read_metadata)]
    for thread in others:
        thread.start()
    schedules = read_two_ended(base_url, key)
    for thread in others:
        thread.join()
    return schedules + alerts


def main(argv: list[str]) -> int:
    mode = argv.pop(0) if argv and argv[0] in MODES else "sequential"
    base_url, out = argv[0], Path(argv[1])
    key = os.environ["HOLISTICS_API_KEY"]
    started = time.perf_counter()
    if mode == "sequential":
        with requests.Session() as session:
            items = read_all(session, base_url, key)
    else:
        items = (read_two_ended if mode == "two-ended" else read_mixed)(base_url, key)
    read_s = time.perf_counter() - started
    out.write_text(json.dumps({"read_s": read_s, "schedules": len(items)}), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
