"""The gateway's ASGI application: routing, authentication, forwarding, streaming, errors."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from typing import Any

import orjson

from gateway.accesslog import AccessLog, RequestRecord
from gateway.asgi import (
    ClientGone,
    Receive,
    Scope,
    Send,
    read_body,
    request_headers,
    send_response,
    too_large,
)
from gateway.clients import Client, ClientRegistry
from gateway.errors import GatewayError
from gateway.exchange import Exchange, ms
from gateway.forwarding import checked_id, parse_chat_request, upstream_body
from gateway.metrics import Metrics
from gateway.openapi import openapi_document
from gateway.ratelimit import Decision, RateLimiter
from gateway.relay import Relay, token_counts
from gateway.upstream import Upstream

log = logging.getLogger("gateway")

_WANTED = (
    b"authorization", b"content-type", b"content-length", b"x-request-id", b"x-user-id",
    b"x-session-id",
)  # fmt: skip


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
        self.relay = Relay(upstream, stream_idle_timeout_s)
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
        exchange = Exchange(request_id=secrets.token_hex(16), started=time.perf_counter())
        self.metrics.in_flight.inc()
        handler = asyncio.current_task()
        if handler is None:  # uvicorn serves every request in a task; nothing else calls this
            raise RuntimeError("a chat completion must be served inside an asyncio task")
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
            watcher = asyncio.create_task(self._watch_disconnect(receive, handler, exchange))
            await self.relay.forward(payload, exchange, send)
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
        self, receive: Receive, handler: asyncio.Task[Any], exchange: Exchange
    ) -> None:
        message = await receive()
        if message["type"] == "http.disconnect" and not exchange.finished:
            exchange.disconnected = True
            handler.cancel()

    async def _send_error(self, send: Send, exchange: Exchange, error: GatewayError) -> None:
        exchange.response_started = True
        headers = {"x-request-id": exchange.request_id, **exchange.extra_headers, **error.headers}
        await send_response(send, error.status, error.body(), headers)

    # -- after the answer: metrics, the access log, token accounting ---------------------------

    def _finish(self, exchange: Exchange) -> None:
        elapsed = time.perf_counter() - exchange.started
        client = exchange.client.name if exchange.client else "-"
        model = exchange.model or "-"
        self.metrics.requests.labels(client, model, str(exchange.status)).inc()
        self.metrics.latency.labels(client, model).observe(elapsed)
        if exchange.upstream_s is not None:
            self.metrics.upstream_latency.labels(model).observe(exchange.upstream_s)
        if exchange.overhead_s is not None:
            self.metrics.overhead.observe(exchange.overhead_s)
        tokens = token_counts(exchange.usage)
        for kind, count in tokens.items():
            self.metrics.tokens.labels(client, model, kind).inc(count)
        self.access_log.write(RequestRecord(
            request_id=exchange.request_id, client=client, model=model,
            status=exchange.status, stream=exchange.stream, latency_ms=ms(elapsed),
            upstream_ms=ms(exchange.upstream_s) if exchange.upstream_s is not None else None,
            overhead_ms=ms(exchange.overhead_s) if exchange.overhead_s is not None else None,
            prompt_tokens=tokens.get("prompt"), completion_tokens=tokens.get("completion"),
            error=exchange.error_code, dropped_fields=exchange.dropped_fields,
        ))  # fmt: skip
        total = sum(tokens.values())
        if exchange.client is not None and total and exchange.client.tokens_per_minute:
            task = asyncio.create_task(self.limiter.record_tokens(exchange.client, total))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
