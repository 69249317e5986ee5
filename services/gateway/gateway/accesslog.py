"""One JSON line per request on stdout: who, which model, what status, how long, how many
tokens. Never a prompt, an answer or a key."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import BinaryIO

import orjson


@dataclass(frozen=True, slots=True)
class RequestRecord:
    request_id: str
    api: str
    client: str
    model: str
    status: int
    stream: bool
    latency_ms: float
    upstream_ms: float | None
    overhead_ms: float | None
    # LiteLLM calls made for this request (the gateway's retries: gateway/retry.py).
    attempts: int
    prompt_tokens: int | None
    completion_tokens: int | None
    # True when the tokens of a stream cut off before its usage are estimated (gateway/usage.py).
    tokens_estimated: bool
    error: str | None
    dropped_fields: tuple[str, ...]


class AccessLog:
    def __init__(self, stream: BinaryIO | None = None) -> None:
        self._stream = stream or sys.stdout.buffer

    def write(self, record: RequestRecord) -> None:
        # orjson serialises the slotted dataclass itself (dataclasses.asdict cost more than
        # the rest of the line): its object, opened up to put the timestamp and event first.
        # One write of bytes per line, flushed, so that a crash loses no finished request.
        head = b'{"ts":%.3f,"event":"request",' % time.time()
        self._stream.write(head + orjson.dumps(record)[1:] + b"\n")
        self._stream.flush()
