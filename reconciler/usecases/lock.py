"""One apply (or import) at a time per checkout: two at once would each plan before the other's
creates land, and both would create them.

The lock is an OS file lock (`flock`), so it is released however its holder ends, even by SIGKILL,
and never goes stale. It lives in the temporary directory, named after the checkout, so nothing
is left in the repository; the file says who holds it, and is removed when its holder lets go.
"""

from __future__ import annotations

import contextlib
import fcntl
import getpass
import hashlib
import os
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from reconciler.errors import UserError
from reconciler.problems import checkout_root as checkout_root  # the base layer's: problems name paths by it too


class LockHeld(UserError):
    """Another run holds this checkout's lock."""


def lock_path(root: Path) -> Path:
    name = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"holistics-schedules-{name}.lock"


@contextmanager
def exclusive(root: Path, command: str) -> Iterator[None]:
    """Hold the checkout's lock while the block runs, or raise LockHeld naming its holder. The file is
    removed when the lock is let go, so temporary checkouts leave nothing behind."""
    path = lock_path(root)
    fd = _acquire(path, root)
    try:
        started = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        os.pwrite(fd, f"{command}, pid {os.getpid()}, {_who()}, since {started}\n".encode(), 0)
        yield
    finally:
        # unlinked while still held: a run that opened the old file finds it gone and tries again
        with contextlib.suppress(OSError):
            os.unlink(path)
        os.close(fd)  # closing releases the flock


def _acquire(path: Path, root: Path) -> int:
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 512, 0).decode("utf-8", "replace").strip() or "another process"
            os.close(fd)
            raise LockHeld(
                f"another holistics-schedules run is working on {root} ({holder}); "
                "wait for it to finish, then run this again"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        try:
            same = os.stat(path, follow_symlinks=False).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            os.ftruncate(fd, 0)
            return fd
        os.close(fd)  # the holder before us removed this file as we locked it: lock the new one


def _who() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}"
