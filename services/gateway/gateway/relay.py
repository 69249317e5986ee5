"""Relaying LiteLLM's answer to the caller: whole answers, streams event by event (ending with
an error event when LiteLLM stalls or cuts off), LiteLLM's errors as the caller's API shapes
them, the gateway's retries (gateway/retry.py), and the usage each answer reports."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp
import orjson

from gateway.apis import Api
from gateway.asgi import Send, raw_headers
from gateway.errors import GatewayError, stream_end
from gateway.exchange import Exchange, ms
from gateway.forwarding import LlmRequest
from gateway.metrics import Metrics
from gateway.retry import RetryPolicy, retry_after_seconds
from gateway.streams import StreamReader, stream_reader
from gateway.upstream import Upstream, broken, timed_out
from gateway.upstream_errors import upstream_error, upstream_retry_after

# The body of attempt n (1, 2, ...): the attempts of one request differ in their metadata.
PayloadFor = Callable[[int], bytes]


@dataclass
class Relay:
    upstream: Upstream
    stream_idle_timeout_s: float
    retry: RetryPolicy
    metrics: Metrics

    async def forward(
        self, api: Api, request: LlmRequest, payload_for: PayloadFor, exchange: Exchange,
        send: Send,
    ) -> None:  # fmt: skip
        """Call LiteLLM and relay its answer; again after a refusal the retry policy allows.
        (The attempt is inline, not a coroutine of its own: one frame less on the path of
        every answer and every resumed stream read.)"""
        first_attempt = time.perf_counter()
        while True:
            exchange.attempts += 1
            sent = time.perf_counter()
            payload = payload_for(exchange.attempts)
            try:
                response = await self.upstream.post(api.path, payload, exchange.request_id)
            except GatewayError as error:
                exchange.upstream_s += time.perf_counter() - sent
                if error.code != "upstream_unavailable":
                    raise
                status, retry_after, failure = 0, None, error
            else:
                try:
                    if response.status == 200:
                        if exchange.stream:
                            exchange.upstream_s += time.perf_counter() - sent
                            await self._relay_stream(response, api, request, exchange, send)
                        else:
                            await self._relay_whole(response, exchange, send, sent)
                        return
                    body = await self._read(response)
                    exchange.upstream_s += time.perf_counter() - sent
                    status = response.status
                    retry_after = retry_after_seconds(upstream_retry_after(response.headers))
                    failure = upstream_error(status, response.headers, body)
                finally:
                    # A response read to its end returns its connection to the pool; anything
                    # else (a caller gone, a stalled or broken stream) closes it, so LiteLLM
                    # sees the disconnect and stops working on an answer nobody will read.
                    if (exchange.finished and not exchange.error_code) or (
                        response.content.at_eof()
                    ):
                        response.release()
                    else:
                        response.close()
            wait = self.retry.wait_before_retry(
                exchange.attempts, status, retry_after, time.perf_counter() - first_attempt
            )
            if wait is None:
                raise failure
            self.metrics.retries.labels(exchange.model or "-", str(status)).inc()
            exchange.retry_wait_s += wait
            await asyncio.sleep(wait)

    async def _read(self, response: aiohttp.ClientResponse) -> bytes:
        try:
            async with asyncio.timeout(self.upstream.timeout_s):
                return await response.read()
        except TimeoutError:
            raise timed_out(self.upstream.timeout_s) from None
        except aiohttp.ClientError:
            raise broken() from None

    async def _relay_whole(
        self, response: aiohttp.ClientResponse, exchange: Exchange, send: Send, sent: float
    ) -> None:
        body = await self._read(response)
        exchange.upstream_s += time.perf_counter() - sent
        exchange.usage = _usage_of(body)
        exchange.status = 200
        _set_overhead(exchange)
        await start_response(send, exchange, 200, response.content_type, len(body))
        await send({"type": "http.response.body", "body": body})
        exchange.finished = True

    async def _relay_stream(
        self, response: aiohttp.ClientResponse, api: Api, request: LlmRequest,
        exchange: Exchange, send: Send,
    ) -> None:  # fmt: skip
        """Pass each event on as it arrives; end with an error event if LiteLLM stalls."""
        reader = stream_reader(api.shape, hide_usage=not request.wants_usage)
        exchange.stream_reader = reader
        exchange.status = 200
        # Whatever of the stream came with LiteLLM's headers goes out right after ours,
        # without another turn of the event loop.
        try:
            chunk = response.content.read_nowait()
        except aiohttp.ClientError:
            chunk = b""  # the loop below meets the same error and ends the stream saying so
        _set_overhead(exchange)
        await start_response(send, exchange, 200, "text/event-stream")
        while True:
            if chunk:
                events = reader.feed(chunk)
                if events:
                    await send({"type": "http.response.body", "body": events, "more_body": True})
            try:
                async with asyncio.timeout(self.stream_idle_timeout_s):
                    chunk = await response.content.readany()
            except TimeoutError:
                message = f"no data from LiteLLM for {self.stream_idle_timeout_s:g} s"
                await _end_stream(send, exchange, reader, message, "upstream_timeout", 504)
                return
            except aiohttp.ClientError:
                message = "LiteLLM closed the stream before it finished"
                await _end_stream(send, exchange, reader, message, "upstream_closed", 502)
                return
            if not chunk:
                break
        if reader.state == "open":
            # The connection ended cleanly but the stream did not: say so, or the caller
            # cannot tell a cut-off answer from a complete one.
            message = "LiteLLM ended the stream before it finished"
            await _end_stream(send, exchange, reader, message, "stream_truncated", 502)
            return
        if reader.state == "broken":
            exchange.error_code = "provider_stream_broken"  # its error event is already sent
        await send({"type": "http.response.body", "body": b""})
        exchange.finished = True


def _set_overhead(exchange: Exchange) -> None:
    """The gateway's own time before the answer starts: all of it but LiteLLM's and the waits."""
    waited = exchange.upstream_s + exchange.retry_wait_s
    exchange.overhead_s = max(0.0, time.perf_counter() - exchange.started - waited)


async def _end_stream(
    send: Send, exchange: Exchange, reader: StreamReader, message: str, code: str, status: int
) -> None:
    exchange.error_code = code
    await send({"type": "http.response.body", "body": stream_end(reader.shape, message, code,
                                                                   status)})  # fmt: skip


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


def _usage_of(body: bytes) -> dict[str, object] | None:
    try:
        usage = orjson.loads(body).get("usage")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return usage if isinstance(usage, dict) else None
