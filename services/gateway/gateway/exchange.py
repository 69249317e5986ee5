"""One chat completion as the gateway sees it, from the request to the last byte: what the
access log, the metrics and the token accounting read when it ends."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gateway.clients import Client


def ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


@dataclass
class Exchange:
    """What one chat completion has seen so far; logged and measured when it ends."""

    request_id: str
    started: float
    client: Client | None = None
    model: str | None = None
    stream: bool = False
    status: int = 0
    error_code: str | None = None
    upstream_s: float | None = None
    overhead_s: float | None = None
    usage: dict[str, Any] | None = None
    dropped_fields: tuple[str, ...] = ()
    response_started: bool = False
    finished: bool = False
    disconnected: bool = False
    extra_headers: dict[str, str] = field(default_factory=dict)
