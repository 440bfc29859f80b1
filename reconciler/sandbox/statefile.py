"""The sandbox's state file: the whole workspace as JSON, so it survives restarts.

Why written this way: to a temporary file, then renamed over the old one, so a crash never leaves
half a file; no fsync, since the file must survive a restart of the sandbox, not a power cut.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

STATE_FORMAT = "holistics-sandbox-state/1"


def read_state_file(path: Path) -> dict[str, Any]:
    """The file's contents; ValueError (or OSError) when it is not a sandbox state file."""
    data: dict[str, Any] = json.loads(path.read_text())
    if data.get("format") != STATE_FORMAT:
        raise ValueError(f"not a sandbox state file ({STATE_FORMAT})")
    return data


def write_state_file(path: Path, data: dict[str, Any]) -> None:
    """`data` (without its format, which is added) replaces the file at once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump({"format": STATE_FORMAT, **data}, fh, indent=1)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
