"""Calling the whole chain (gateway -> LiteLLM -> emulator) and naming what the caller saw.

A caller can only act on what reaches it, so every answer is reduced to a `Shape`:
a JSON completion or error, or, for a stream that began with 200, whether it completed,
ended with an error event then `[DONE]`, or stopped in a way the caller cannot tell from
a finished stream.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from devstack.stack import GatewayClient, LocalStack
from tests.integration.gateway_calls import auth, chat_body, emulator_stats, metric_value

Shape = Literal[
    "completion",  # 200 JSON with a message and a finish_reason
    "error",  # an error status with OpenAI's error object
    "stream-complete",  # SSE: content, a finish_reason, [DONE], no error event
    "stream-error",  # SSE: an error event, then [DONE], as the last two events
    "stream-truncated",  # SSE that ended any other way: indistinguishable from success
    "left",  # the caller went away mid-stream
]
# What a caller does once `after_events` SSE events have arrived.
MidStream = Literal["caller_leaves", "kill_litellm"]
DONE = "[DONE]"


@dataclass
class Outcome:
    status: int | None
    shape: Shape
    elapsed_s: float
    headers: dict[str, str] = field(default_factory=dict)
    error: dict[str, Any] | None = None
    text: str = ""
    events: int = 0

    @property
    def code(self) -> str | None:
        return None if self.error is None else _str_or_none(self.error.get("code"))

    def summary(self) -> str:
        parts = [str(self.status) if self.status is not None else "-", self.shape]
        if self.code is not None:
            parts.append(f"code={self.code}")
        if "retry-after" in self.headers:
            parts.append(f"Retry-After={self.headers['retry-after']}")
        return " ".join(parts)


def _str_or_none(value: object) -> str | None:
    return None if value is None else str(value)


def request_body(model: str, content: str, *, stream: bool) -> dict[str, Any]:
    if stream:
        return chat_body(model, content, stream=True, stream_options={"include_usage": True})
    return chat_body(model, content)


def parse_stream(payloads: list[str]) -> tuple[Shape, dict[str, Any] | None, str]:
    """The shape of an SSE stream from its `data:` payloads, its error event, its text."""
    chunks: list[dict[str, Any]] = []
    error: dict[str, Any] | None = None
    for payload in payloads:
        if payload == DONE:
            continue
        event = json.loads(payload)
        if isinstance(event, dict) and "error" in event:
            error = event["error"]
        else:
            chunks.append(event)
    text = "".join(
        (choice.get("delta") or {}).get("content") or ""
        for chunk in chunks
        for choice in chunk.get("choices", [])
    )
    finished = any(c.get("finish_reason") for chunk in chunks for c in chunk.get("choices", []))
    ended = bool(payloads) and payloads[-1] == DONE
    if error is not None and ended and len(payloads) >= 2 and "error" in payloads[-2]:
        return "stream-error", error, text
    if error is None and ended and finished:
        return "stream-complete", None, text
    return "stream-truncated", error, text


def call(
    stack: LocalStack,
    client: GatewayClient,
    body: dict[str, Any],
    *,
    timeout_s: float,
    mid_stream: MidStream | None = None,
    after_events: int = 0,
    on_kill: Callable[[], None] | None = None,
) -> Outcome:
    """One chat completion through `stack`'s gateway, timed from the caller's side.

    A fresh connection each time: a caller that leaves closes its socket, and nothing
    pooled hides what the gateway did with the previous call."""
    started = time.monotonic()
    url = f"{stack.gateway_url}/v1/chat/completions"
    with (
        httpx.Client(timeout=timeout_s) as http,
        http.stream("POST", url, json=body, headers=auth(client)) as response,
    ):
        headers = {k.lower(): v for k, v in response.headers.items()}
        if not headers.get("content-type", "").startswith("text/event-stream"):
            payload = json.loads(response.read() or b"null")
            elapsed = time.monotonic() - started
            if response.status_code != 200:
                error = payload.get("error") if isinstance(payload, dict) else None
                return Outcome(response.status_code, "error", elapsed, headers, error)
            choice = payload["choices"][0]
            shape: Shape = "completion" if choice.get("finish_reason") else "error"
            text = choice["message"].get("content") or ""
            return Outcome(200, shape, elapsed, headers, None, text)
        payloads: list[str] = []
        for line in response.iter_lines():
            if not line.startswith("data: "):
                continue
            payloads.append(line.removeprefix("data: "))
            if mid_stream is not None and len(payloads) == after_events:
                if mid_stream == "caller_leaves":
                    # Leaving the `with` closes the unread response, and with it the socket.
                    return Outcome(None, "left", time.monotonic() - started, headers)
                if on_kill is not None:
                    on_kill()
        stream_shape, error, text = parse_stream(payloads)
        elapsed = time.monotonic() - started
        return Outcome(200, stream_shape, elapsed, headers, error, text, len(payloads))


def wait_until(predicate: Callable[[], bool], timeout_s: float, interval_s: float = 0.05) -> float:
    """Seconds until `predicate()` held, or raise TimeoutError after `timeout_s`."""
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout_s:
            raise TimeoutError(f"not true after {timeout_s} s")
        time.sleep(interval_s)
    return time.monotonic() - started


def provider_idle(stack: LocalStack) -> bool:
    """No request of any kind open at the provider (the emulator)."""
    stats = emulator_stats(stack)
    return stats["in_flight"] == 0 and stats["open_streams"] == 0


def gateway_in_flight(stack: LocalStack) -> float:
    return metric_value(stack, "gateway_requests_in_flight")
