"""The floor to beat: the simplest client there is, reading every schedule page after page.

`python -m bench.bare BASE_URL OUT.json` (the key in HOLISTICS_API_KEY): one `requests.Session`,
`GET /data_schedules?limit=100` following `cursors.next`, each page decoded with `.json()` and kept,
nothing checked, nothing else done. Written to OUT.json: the reading time (first request to last
page decoded), the process's own time from start to exit is measured by the parent.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import requests


def read_all(session: requests.Session, base_url: str, key: str) -> list[dict[str, Any]]:
    schedules: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 100}
    while True:
        data = session.get(f"{base_url}/data_schedules", params=params, headers={"X-Holistics-Key": key}).json()
        schedules += data["data_schedules"]
        after = (data.get("cursors") or {}).get("next")
        if not after:
            return schedules
        params["after"] = after


def main(argv: list[str]) -> int:
    base_url, out = argv[0], Path(argv[1])
    with requests.Session() as session:
        started = time.perf_counter()
        schedules = read_all(session, base_url, os.environ["HOLISTICS_API_KEY"])
        read_s = time.perf_counter() - started
    out.write_text(json.dumps({"read_s": read_s, "schedules": len(schedules)}), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
