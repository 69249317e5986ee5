"""What tests observe: the log of recent API requests and the counters behind /_emulator/stats.

Tests use these to prove things a client cannot see, e.g. that a proxy cancelled its
upstream call when its own caller went away (``client_disconnects``). Nothing here ever
holds an API key value: only header names are kept, plus the values of a few harmless
headers that tests assert on.
"""

import itertools
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from multidict import CIMultiDictProxy

LOG_CAPACITY = 1000
# The only header values recorded; everything else (above all the keys) is kept by name only.
RECORDED_HEADER_VALUES = ("anthropic-version", "x-request-id", "user-agent")

_ids = itertools.count(1)


@dataclass
class RequestRecord:
    """One API request as the log shows it; filled in while the request is handled."""

    api: str  # "anthropic" | "openai"
    path: str
    headers: list[str]
    header_values: dict[str, str]
    generation: int  # which reset epoch it belongs to, so old requests cannot touch new counters
    id: str = field(default_factory=lambda: f"emu-{next(_ids)}")
    time: float = field(default_factory=time.time)
    model: str | None = None
    stream: bool = False
    status: int | None = None  # None while the answer has not started
    fault: dict[str, Any] = field(default_factory=dict)
    body_keys: list[str] = field(default_factory=list)
    metadata: Any = None
    user: Any = None
    tool_call: str | None = None  # the tool the answer calls, if it calls one
    disconnected: bool = False
    reset_sent: bool = False
    stalled: bool = False

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "time": self.time,
            "api": self.api,
            "path": self.path,
            "model": self.model,
            "stream": self.stream,
            "status": self.status,
            "fault": self.fault,
            "body_keys": self.body_keys,
            "headers": self.headers,
            "header_values": self.header_values,
            "disconnected": self.disconnected,
            "reset_sent": self.reset_sent,
            "stalled": self.stalled,
        }
        if self.metadata is not None:
            data["metadata"] = self.metadata
        if self.user is not None:
            data["user"] = self.user
        if self.tool_call is not None:
            data["tool_call"] = self.tool_call
        return data


class Observer:
    """The request log and counters; one per application, reset by POST /_emulator/reset."""

    def __init__(self) -> None:
        self._log: deque[RequestRecord] = deque(maxlen=LOG_CAPACITY)
        self.generation = 0
        self.requests = 0
        self.client_disconnects = 0
        self.resets_sent = 0
        # Gauges describe live connections, so a reset does not zero them.
        self.in_flight = 0
        self.open_streams = 0
        self.shutting_down = False  # cancellations at shutdown are not client disconnects

    def begin(self, api: str, path: str, headers: CIMultiDictProxy[str]) -> RequestRecord:
        record = RequestRecord(
            api=api,
            path=path,
            headers=sorted({name.lower() for name in headers}),
            header_values={
                name: headers[name] for name in RECORDED_HEADER_VALUES if name in headers
            },
            generation=self.generation,
        )
        self._log.append(record)
        self.requests += 1
        self.in_flight += 1
        return record

    def finished(self) -> None:
        self.in_flight -= 1

    def client_disconnected(self, record: RequestRecord) -> None:
        if record.disconnected or record.reset_sent or self.shutting_down:
            return
        record.disconnected = True
        if record.generation == self.generation:
            self.client_disconnects += 1

    def reset_was_sent(self, record: RequestRecord) -> None:
        record.reset_sent = True
        if record.generation == self.generation:
            self.resets_sent += 1

    def clear(self) -> None:
        self._log.clear()
        self.generation += 1
        self.requests = 0
        self.client_disconnects = 0
        self.resets_sent = 0

    def requests_json(self) -> list[dict[str, Any]]:
        return [record.as_json() for record in self._log]

    def stats_json(self) -> dict[str, int]:
        return {
            "requests": self.requests,
            "in_flight": self.in_flight,
            "open_streams": self.open_streams,
            "client_disconnects": self.client_disconnects,
            "resets_sent": self.resets_sent,
        }
