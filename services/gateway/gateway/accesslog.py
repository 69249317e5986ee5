"""One JSON line per request on stdout: who, which model, what status, how long, how many
tokens. Never a prompt, an answer or a key."""

from __future__ import annotations

import sys
import time
from dataclasses import asdict, dataclass
from typing import TextIO

import orjson


@dataclass(frozen=True, slots=True)
class RequestRecord:
    request_id: str
    client: str
    model: str
    status: int
    stream: bool
    latency_ms: float
    upstream_ms: float | None
    overhead_ms: float | None
    prompt_tokens: int | None
    completion_tokens: int | None
    error: str | None
    dropped_fields: tuple[str, ...]


class AccessLog:
    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream or sys.stdout

    def write(self, record: RequestRecord) -> None:
        line = {"ts": round(time.time(), 3), "event": "request", **asdict(record)}
        self._stream.write(orjson.dumps(line).decode() + "\n")
        self._stream.flush()
