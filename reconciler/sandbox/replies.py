"""What a sandbox route answers with, and the error replies, shared by the API, its listings and the
control endpoint: a module of its own so the routes (`api`) and the listings (`listing`) need not
import each other. Request parameters are read here too, as every route reads them alike."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

Query = Mapping[str, list[str]]


@dataclass
class Reply:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    error: bool = False


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        type_: str,
        message: str,
        record: dict[str, list[str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.type = type_
        self.message = message
        self.record = record
        self.headers = headers or {}

    def reply(self) -> Reply:
        body: dict[str, Any] = {"type": self.type, "message": self.message}
        if self.record is not None:
            body["record"] = self.record
        return Reply(self.status, body, dict(self.headers), error=True)


def invalid(message: str) -> ApiError:
    return ApiError(400, "InvalidParameterError", message)


def one(query: Query, name: str) -> str | None:
    """A parameter's value (the last, when it is repeated)."""
    values = query.get(name)
    return values[-1] if values else None


def int_param(query: Query, name: str, low: int, high: int | None = None) -> int | None:
    raw = one(query, name)
    if raw is None:
        return None
    bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
    if not re.fullmatch(r"[+-]?\d+", raw.strip()):
        raise invalid(f"Invalid parameter {name}: must be an integer {bounds}")
    value = int(raw)
    if value < low or (high is not None and value > high):
        raise invalid(f"Invalid parameter {name}: must be an integer {bounds}")
    return value


def path_id(raw: str) -> int:
    if not re.fullmatch(r"\d+", raw):
        raise invalid(f"Invalid parameter id: must be an integer, got {raw!r}")
    return int(raw)
