"""One LLM call as the gateway sees it, from the request to the last byte: what the access
log, the metrics and the token accounting read when it ends."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gateway.clients import Client
from gateway.streams import StreamReader


def ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


@dataclass
class Exchange:
    """What one call has seen so far; logged and measured when it ends."""

    request_id: str
    started: float
    api: str = "chat.completions"
    client: Client | None = None
    model: str | None = None
    stream: bool = False
    status: int = 0
    error_code: str | None = None
    # Waiting for LiteLLM, over every attempt; and the waits between attempts.
    upstream_s: float = 0.0
    retry_wait_s: float = 0.0
    attempts: int = 0
    overhead_s: float | None = None
    usage: dict[str, Any] | None = None
    # The request's body as it went upstream (a cut-off stream's prompt is estimated from it).
    body: dict[str, Any] | None = None
    stream_reader: StreamReader | None = None
    dropped_fields: tuple[str, ...] = ()
    response_started: bool = False
    finished: bool = False
    disconnected: bool = False
    extra_headers: dict[str, str] = field(default_factory=dict)
