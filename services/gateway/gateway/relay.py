"""Relaying LiteLLM's answer to the caller: whole answers, streams chunk by chunk (ending with
an error event when LiteLLM stalls or cuts off), LiteLLM's errors in OpenAI's shape, and the
usage each answer reports."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from gateway.asgi import Send, raw_headers
from gateway.errors import GatewayError, error_body
from gateway.exchange import Exchange, ms
from gateway.upstream import Upstream, broken, timed_out

log = logging.getLogger("gateway")

_SSE_DONE = b"data: [DONE]\n\n"
_STREAM_TAIL_BYTES = 8192


@dataclass
class Relay:
    upstream: Upstream
    stream_idle_timeout_s: float

    async def forward(self, payload: bytes, exchange: Exchange, send: Send) -> None:
        sent_upstream = time.perf_counter()
        response = await self.upstream.post_chat(payload, exchange.request_id)
        try:
            if exchange.stream and response.status == 200:
                headers_in = time.perf_counter()
                exchange.upstream_s = headers_in - sent_upstream
                await self._relay_stream(response, exchange, send, headers_in)
                return
            await self._relay_whole(response, exchange, send, sent_upstream)
        finally:
            # A response read to its end returns its connection to the pool; anything else
            # (a caller gone, a stalled or broken stream) closes it, so LiteLLM sees the
            # disconnect and stops working on an answer nobody will read.
            if exchange.finished and not exchange.error_code:
                response.release()
            else:
                response.close()

    async def _relay_whole(
        self, response: aiohttp.ClientResponse, exchange: Exchange, send: Send, sent: float
    ) -> None:
        try:
            async with asyncio.timeout(self.upstream.timeout_s):
                body = await response.read()
        except TimeoutError:
            raise timed_out(self.upstream.timeout_s) from None
        except aiohttp.ClientError:
            raise broken() from None
        received = time.perf_counter()
        exchange.upstream_s = received - sent
        if response.status != 200:
            raise _upstream_error(response, body)
        exchange.usage = _usage_of(body)
        exchange.status = 200
        exchange.overhead_s = (sent - exchange.started) + (time.perf_counter() - received)
        await start_response(send, exchange, 200, response.content_type, len(body))
        await send({"type": "http.response.body", "body": body})
        exchange.finished = True

    async def _relay_stream(
        self, response: aiohttp.ClientResponse, exchange: Exchange, send: Send, headers_in: float
    ) -> None:
        """Pass each chunk on as it arrives; end with an error event if LiteLLM stalls."""
        exchange.status = 200
        exchange.overhead_s = (headers_in - exchange.started) - (exchange.upstream_s or 0.0)
        exchange.overhead_s += time.perf_counter() - headers_in
        # Whatever of the stream came with LiteLLM's headers goes out right after ours,
        # without another turn of the event loop.
        try:
            chunk = response.content.read_nowait()
        except aiohttp.ClientError:
            chunk = b""  # the loop below meets the same error and ends the stream saying so
        await start_response(send, exchange, 200, "text/event-stream")
        tail = b""
        while True:
            if chunk:
                tail = (tail + chunk)[-_STREAM_TAIL_BYTES:]
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            try:
                async with asyncio.timeout(self.stream_idle_timeout_s):
                    chunk = await response.content.readany()
            except TimeoutError:
                exchange.error_code = "stream_idle_timeout"
                message = f"no data from LiteLLM for {self.stream_idle_timeout_s:g} s"
                await _send_stream_error(send, message, "upstream_timeout")
                return
            except aiohttp.ClientError:
                exchange.error_code = "stream_broken"
                await _send_stream_error(
                    send, "LiteLLM closed the stream before it finished", "upstream_closed"
                )
                return
            if not chunk:
                break
        if not tail.rstrip().endswith(_SSE_DONE.rstrip()):
            # The connection ended cleanly but the stream did not: say so, or the caller
            # cannot tell a cut-off answer from a complete one.
            exchange.error_code = "stream_truncated"
            await _send_stream_error(
                send, "LiteLLM ended the stream before it finished", "upstream_closed"
            )
            return
        await send({"type": "http.response.body", "body": b""})
        exchange.finished = True
        exchange.usage = _stream_usage(tail)


async def start_response(
    send: Send,
    exchange: Exchange,
    status: int,
    content_type: str,
    content_length: int | None = None,
) -> None:
    headers = {
        "x-request-id": exchange.request_id,
        "x-gateway-overhead-ms": f"{ms(exchange.overhead_s or 0.0):.3f}",
        **exchange.extra_headers,
    }
    if exchange.stream:
        headers["cache-control"] = "no-cache"
    if content_length is not None:
        # A known length spares the chunked encoding's extra write per answer.
        headers["content-length"] = str(content_length)
    exchange.response_started = True
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", content_type.encode()), *raw_headers(headers)],
        }
    )


def _upstream_error(response: aiohttp.ClientResponse, body: bytes) -> GatewayError:
    """LiteLLM's error, in OpenAI's shape, with the status the caller should see."""
    message, type_, code = f"LiteLLM answered {response.status}", "server_error", None
    with contextlib.suppress(orjson.JSONDecodeError, AttributeError, TypeError):
        error = orjson.loads(body)["error"]
        message = str(error.get("message") or message)
        type_ = str(error.get("type") or type_)
        code = str(error["code"]) if error.get("code") is not None else None
    status = response.status
    headers: dict[str, str] = {}
    if status in (401, 403):
        # LiteLLM refused the gateway's own key: a misconfiguration, not the caller's fault.
        log.error("LiteLLM refused the gateway's master key (status %d)", status)
        return GatewayError(
            502,
            "the gateway could not authenticate to LiteLLM",
            type_="server_error",
            code="upstream_auth",
        )
    if status == 429:
        # LiteLLM passes the provider's own header on as llm_provider-retry-after.
        retry_after = response.headers.get("retry-after") or response.headers.get(
            "llm_provider-retry-after"
        )
        headers["retry-after"] = (
            retry_after if retry_after is not None and retry_after.isdigit() else "1"
        )
    return GatewayError(status, message, type_=type_, code=code, headers=headers, upstream=True)


async def _send_stream_error(send: Send, message: str, code: str) -> None:
    event = b"data: " + error_body(message, "server_error", code) + b"\n\n"
    await send({"type": "http.response.body", "body": event + _SSE_DONE})


def _usage_of(body: bytes) -> dict[str, Any] | None:
    try:
        usage = orjson.loads(body).get("usage")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return usage if isinstance(usage, dict) else None


def _stream_usage(tail: bytes) -> dict[str, Any] | None:
    """The usage of a stream: its last `data:` event that carries one (include_usage)."""
    for event in reversed(tail.split(b"\n\n")):
        if not event.startswith(b"data: {") or b'"usage"' not in event:
            continue
        with contextlib.suppress(orjson.JSONDecodeError):
            usage = orjson.loads(event[6:]).get("usage")
            if isinstance(usage, dict):
                return usage
    return None


def token_counts(usage: dict[str, Any] | None) -> dict[str, int]:
    if not usage:
        return {}
    counts = {
        "prompt": usage.get("prompt_tokens"),
        "completion": usage.get("completion_tokens"),
    }
    return {k: v for k, v in counts.items() if isinstance(v, int) and v >= 0}
