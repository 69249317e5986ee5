"""The gateway's ASGI application: routing, authentication, forwarding, streaming, errors."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

from gateway.accesslog import AccessLog, RequestRecord
from gateway.asgi import (
    ClientGone,
    Receive,
    Scope,
    Send,
    raw_headers,
    read_body,
    request_headers,
    send_response,
    too_large,
)
from gateway.clients import Client, ClientRegistry
from gateway.errors import GatewayError, error_body
from gateway.forwarding import checked_id, parse_chat_request, upstream_body
from gateway.metrics import Metrics
from gateway.openapi import openapi_document
from gateway.ratelimit import Decision, RateLimiter
from gateway.upstream import Upstream, broken, timed_out

log = logging.getLogger("gateway")

_WANTED = (
    b"authorization", b"content-type", b"content-length", b"x-request-id", b"x-user-id",
    b"x-session-id",
)  # fmt: skip
_SSE_DONE = b"data: [DONE]\n\n"
_STREAM_TAIL_BYTES = 8192


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


@dataclass
class _Exchange:
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


class Gateway:
    def __init__(
        self,
        clients: ClientRegistry,
        upstream: Upstream,
        limiter: RateLimiter,
        *,
        max_body_bytes: int,
        stream_idle_timeout_s: float,
        health_probe_interval_s: float,
        metrics: Metrics | None = None,
        access_log: AccessLog | None = None,
    ) -> None:
        self.clients = clients
        self.upstream = upstream
        self.limiter = limiter
        self.max_body_bytes = max_body_bytes
        self.stream_idle_timeout_s = stream_idle_timeout_s
        self.health_probe_interval_s = health_probe_interval_s
        self.metrics = metrics or Metrics()
        self.access_log = access_log or AccessLog()
        self.ready = False
        self.shutting_down = False
        self.dependencies = {"litellm": "unknown", "redis": "unknown"}
        self._probe: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._openapi = orjson.dumps(openapi_document())

    # -- ASGI entry point --------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path, method = scope["path"], scope["method"]
        if path == "/v1/chat/completions":
            await self._chat(scope, receive, send)
        elif path == "/healthz":
            await send_response(send, 200, b'{"status":"ok"}', {})
        elif path == "/readyz":
            await self._readyz(send)
        elif path == "/metrics":
            body = self.metrics.render()
            await send_response(send, 200, body, {}, self.metrics.content_type.encode())
        elif path == "/v1/models":
            await self._models(scope, send)
        elif path == "/openapi.json":
            await send_response(send, 200, self._openapi, {})
        else:
            error = GatewayError(404, f"no route for {method} {path}", code="not_found")
            await send_response(send, 404, error.body(), {})

    # -- lifespan: the pool, Redis and the dependency probe ------------------------------------

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self.upstream.start()
                self._probe = asyncio.create_task(self._probe_dependencies())
                self.ready = True
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.shutting_down = True
                self.ready = False
                if self._probe is not None:
                    self._probe.cancel()
                await asyncio.gather(*self._background, return_exceptions=True)
                await self.limiter.close()
                await self.upstream.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _probe_dependencies(self) -> None:
        """Report LiteLLM and Redis in /readyz and metrics; never fail readiness on them."""
        while True:
            litellm_up, redis_up = await asyncio.gather(self.upstream.alive(), self.limiter.ping())
            for name, up in (("litellm", litellm_up), ("redis", redis_up)):
                self.dependencies[name] = "up" if up else "down"
                self.metrics.dependency_up.labels(name).set(1 if up else 0)
            await asyncio.sleep(self.health_probe_interval_s)

    async def _readyz(self, send: Send) -> None:
        ready = self.ready and not self.shutting_down
        state = "ready" if ready else ("shutting_down" if self.shutting_down else "starting")
        body = orjson.dumps({"status": state, **self.dependencies})
        await send_response(send, 200 if ready else 503, body, {})

    # -- /v1/models ----------------------------------------------------------------------------

    async def _models(self, scope: Scope, send: Send) -> None:
        headers = request_headers(scope, (b"authorization",))
        try:
            client = self._authenticate(headers.get(b"authorization"))
        except GatewayError as error:
            await send_response(send, error.status, error.body(), error.headers)
            return
        data = [
            {"id": model, "object": "model", "created": 0, "owned_by": "shared-ai-gateway"}
            for model in client.models
        ]
        await send_response(send, 200, orjson.dumps({"object": "list", "data": data}), {})

    def _authenticate(self, authorization: str | None) -> Client:
        scheme, _, key = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise GatewayError(
                401,
                "missing API key: send 'Authorization: Bearer <key>'",
                code="invalid_api_key",
                headers={"www-authenticate": "Bearer"},
            )
        client = self.clients.authenticate(key.strip())
        if client is None:
            raise GatewayError(
                401,
                "invalid API key",
                code="invalid_api_key",
                headers={"www-authenticate": "Bearer"},
            )
        return client

    # -- /v1/chat/completions ------------------------------------------------------------------

    async def _chat(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = request_headers(scope, _WANTED)
        exchange = _Exchange(request_id=secrets.token_hex(16), started=time.perf_counter())
        self.metrics.in_flight.inc()
        handler = asyncio.current_task()
        watcher: asyncio.Task[None] | None = None
        try:
            exchange.request_id = checked_id(headers.get(b"x-request-id"), "X-Request-Id") or (
                exchange.request_id
            )
            if scope["method"] != "POST":
                raise GatewayError(405, "use POST for /v1/chat/completions", code="method")
            exchange.client = self._authenticate(headers.get(b"authorization"))
            body = await self._read_json_body(headers, receive)
            request = parse_chat_request(body)
            exchange.model, exchange.stream = request.model, request.stream
            exchange.dropped_fields = request.dropped_fields
            if not exchange.client.may_use(request.model):
                raise GatewayError(
                    403, f"client '{exchange.client.name}' may not use model "
                    f"'{request.model}'", type_="permission_error", code="model_not_allowed",
                    param="model",
                )  # fmt: skip
            decision = await self._rate_limit(exchange.client)
            exchange.extra_headers.update(decision.headers())
            if request.dropped_fields:
                exchange.extra_headers["x-gateway-dropped-fields"] = ",".join(
                    request.dropped_fields
                )
            payload = orjson.dumps(upstream_body(
                request, exchange.client, exchange.request_id,
                checked_id(headers.get(b"x-user-id"), "X-User-Id"),
                checked_id(headers.get(b"x-session-id"), "X-Session-Id"),
            ))  # fmt: skip
            # From here on the caller going away cancels the upstream call at once.
            assert handler is not None
            watcher = asyncio.create_task(self._watch_disconnect(receive, handler, exchange))
            await self._forward(payload, exchange, send)
        except GatewayError as error:
            exchange.status, exchange.error_code = error.status, error.code
            if not exchange.response_started:
                await self._send_error(send, exchange, error)
        except ClientGone:
            exchange.status, exchange.disconnected = 499, True
        except Exception:
            # A bug of the gateway's own: logged with its traceback, answered in OpenAI's
            # shape, never with the request's content.
            log.exception("unhandled error in request %s", exchange.request_id)
            exchange.status, exchange.error_code = 500, "internal_error"
            if not exchange.response_started:
                internal = GatewayError(500, "internal gateway error", type_="server_error",
                                        code="internal_error")  # fmt: skip
                await self._send_error(send, exchange, internal)
        except asyncio.CancelledError:
            if not exchange.disconnected:
                raise
            # Cancelled by the watcher: the caller left; the upstream call is already closed.
            assert handler is not None
            handler.uncancel()
            exchange.status, exchange.error_code = 499, "client_disconnected"
        finally:
            if watcher is not None:
                watcher.cancel()
            self.metrics.in_flight.dec()
            self._finish(exchange)

    async def _read_json_body(self, headers: dict[bytes, str], receive: Receive) -> Any:
        content_type = headers.get(b"content-type", "").split(";", 1)[0].strip().lower()
        if content_type != "application/json":
            raise GatewayError(
                415, "Content-Type must be application/json", code="unsupported_media_type"
            )
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            raise too_large(self.max_body_bytes)
        raw = await read_body(receive, self.max_body_bytes)
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError as error:
            message = f"the body is not valid JSON: {error}"
            raise GatewayError(400, message, code="invalid_json") from None

    async def _rate_limit(self, client: Client) -> Decision:
        decision = await self.limiter.check(client)
        if not decision.limiter_available:
            self.metrics.limiter_unavailable.inc()
            if not decision.allowed:
                raise GatewayError(
                    503,
                    "rate limiter unavailable; retry shortly",
                    type_="server_error",
                    code="rate_limiter_unavailable",
                    headers={"retry-after": "1"},
                )
        elif not decision.allowed:
            self.metrics.rate_limited.labels(client.name, decision.limit_name or "").inc()
            raise GatewayError(
                429, f"rate limit reached for client '{client.name}' "
                f"({decision.limit} {decision.limit_name} per minute)",
                type_="rate_limit_error", code="rate_limit_exceeded",
                headers=decision.headers(),
            )  # fmt: skip
        return decision

    async def _watch_disconnect(
        self, receive: Receive, handler: asyncio.Task[Any], exchange: _Exchange
    ) -> None:
        message = await receive()
        if message["type"] == "http.disconnect" and not exchange.finished:
            exchange.disconnected = True
            handler.cancel()

    async def _forward(self, payload: bytes, exchange: _Exchange, send: Send) -> None:
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
        self, response: aiohttp.ClientResponse, exchange: _Exchange, send: Send, sent: float
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
        await self._start_response(send, exchange, 200, response.content_type, len(body))
        await send({"type": "http.response.body", "body": body})
        exchange.finished = True

    async def _start_response(
        self,
        send: Send,
        exchange: _Exchange,
        status: int,
        content_type: str,
        content_length: int | None = None,
    ) -> None:
        headers = {
            "x-request-id": exchange.request_id,
            "x-gateway-overhead-ms": f"{_ms(exchange.overhead_s or 0.0):.3f}",
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

    async def _relay_stream(
        self, response: aiohttp.ClientResponse, exchange: _Exchange, send: Send, headers_in: float
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
        await self._start_response(send, exchange, 200, "text/event-stream")
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

    async def _send_error(self, send: Send, exchange: _Exchange, error: GatewayError) -> None:
        exchange.response_started = True
        headers = {"x-request-id": exchange.request_id, **exchange.extra_headers, **error.headers}
        await send_response(send, error.status, error.body(), headers)

    # -- after the answer: metrics, the access log, token accounting ---------------------------

    def _finish(self, exchange: _Exchange) -> None:
        elapsed = time.perf_counter() - exchange.started
        client = exchange.client.name if exchange.client else "-"
        model = exchange.model or "-"
        self.metrics.requests.labels(client, model, str(exchange.status)).inc()
        self.metrics.latency.labels(client, model).observe(elapsed)
        if exchange.upstream_s is not None:
            self.metrics.upstream_latency.labels(model).observe(exchange.upstream_s)
        if exchange.overhead_s is not None:
            self.metrics.overhead.observe(exchange.overhead_s)
        tokens = _token_counts(exchange.usage)
        for kind, count in tokens.items():
            self.metrics.tokens.labels(client, model, kind).inc(count)
        self.access_log.write(RequestRecord(
            request_id=exchange.request_id, client=client, model=model,
            status=exchange.status, stream=exchange.stream, latency_ms=_ms(elapsed),
            upstream_ms=_ms(exchange.upstream_s) if exchange.upstream_s is not None else None,
            overhead_ms=_ms(exchange.overhead_s) if exchange.overhead_s is not None else None,
            prompt_tokens=tokens.get("prompt"), completion_tokens=tokens.get("completion"),
            error=exchange.error_code, dropped_fields=exchange.dropped_fields,
        ))  # fmt: skip
        total = sum(tokens.values())
        if exchange.client is not None and total and exchange.client.tokens_per_minute:
            task = asyncio.create_task(self.limiter.record_tokens(exchange.client, total))
            self._background.add(task)
            task.add_done_callback(self._background.discard)


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


def _token_counts(usage: dict[str, Any] | None) -> dict[str, int]:
    if not usage:
        return {}
    counts = {
        "prompt": usage.get("prompt_tokens"),
        "completion": usage.get("completion_tokens"),
    }
    return {k: v for k, v in counts.items() if isinstance(v, int) and v >= 0}
