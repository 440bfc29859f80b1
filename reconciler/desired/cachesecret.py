"""The secret that proves a cache entry was written by this machine's own validation.

A checksum guards an entry against damage, not intent: anyone who can put a file where the cache
reads could write a valid one. So each entry carries an HMAC under a random secret made once per
user and kept in the user's cache directory (mode 0600), never in a checkout: an entry committed
to a repository, copied from another machine or forged without the secret is a miss.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import os
import re
import secrets
from pathlib import Path

from reconciler.desired.discovery import read_regular

_log = logging.getLogger(__name__)


def machine_secret(path: Path) -> bytes | None:
    """This user's secret for authenticating entries, kept at `path` (mode 0600): made, from 32
    random bytes, when there is none or what is there is not one. None when it can be neither read
    nor made: then there is no cache."""
    try:
        return _read_secret(path)
    except (OSError, ValueError):
        pass
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        return _make_secret(path)
    except (OSError, ValueError) as exc:
        _log.debug("no schedule cache: no key at %s (%s)", path, exc)
        return None


def _read_secret(path: Path) -> bytes:
    blob = read_regular(path)
    if os.stat(path).st_mode & 0o077:
        raise ValueError(f"{path} can be read by others")  # then it is no secret: made anew
    text = blob.decode("ascii").strip()
    if not re.fullmatch(r"[0-9a-f]{64}", text):
        raise ValueError(f"{path} holds no key")
    return text.encode()


def _make_secret(path: Path) -> bytes:
    """A new secret at `path`; the one another run made meanwhile wins, so runs at once agree."""
    import tempfile

    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".partial")  # mode 0600
    try:
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32) + "\n")
        try:
            os.link(temporary, path)  # never over one another run has just made
        except FileExistsError:
            with contextlib.suppress(OSError, ValueError):
                return _read_secret(path)
            os.replace(temporary, path)  # what is there is damaged: replaced
    finally:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
    return _read_secret(path)


def mac(secret: bytes, key: str, payload: bytes) -> bytes:
    """The HMAC-SHA256 of an entry's key and payload under `secret`, as hex."""
    return hmac.new(secret, key.encode() + b"\n" + payload, hashlib.sha256).hexdigest().encode()
