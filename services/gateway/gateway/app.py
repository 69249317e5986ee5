"""The gateway's ASGI application: routing, authentication, forwarding, streaming, errors."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from typing import Any

import orjson

from gateway.accesslog import AccessLog, RequestRecord
from gateway.anthropic_request import checked_version
from gateway.apis import BY_PATH, Api
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
from gateway.errors import GatewayError, Shape
from gateway.exchange import Exchange, ms
from gateway.forwarding import LlmRequest, checked_id, litellm_metadata, upstream_body
from gateway.metrics import Metrics
from gateway.models import model_list, model_object
from gateway.openapi import openapi_document
from gateway.ratelimit import Decision, RateLimiter
from gateway.relay import Relay
from gateway.retry import RetryPolicy
from gateway.unsent_fields import UnsentFields
from gateway.upstream import Upstream
from gateway.usage import cut_off_counts, token_counts

log = logging.getLogger("gateway")

_WANTED = frozenset({
    b"authorization", b"x-api-key", b"content-type", b"content-length", b"x-request-id",
    b"x-user-id", b"x-session-id", b"anthropic-version",
})  # fmt: skip
_AUTH = frozenset({b"authorization", b"x-api-key", b"anthropic-version"})
MODELS_PREFIX = "/v1/models/"


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
        retry: RetryPolicy | None = None,
        unsent: UnsentFields | None = None,
    ) -> None:
        self.clients = clients
        self.upstream = upstream
        self.limiter = limiter
        self.max_body_bytes = max_body_bytes
        self.health_probe_interval_s = health_probe_interval_s
        self.metrics = metrics or Metrics()
        self.access_log = access_log or AccessLog()
        self.relay = Relay(upstream, stream_idle_timeout_s, retry or RetryPolicy(), self.metrics)
        self.unsent = unsent or UnsentFields.load()
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
        api = BY_PATH.get(path)
        if api is not None:
            await self._llm(api, scope, receive, send)
        elif path == "/healthz":
            await send_response(send, 200, b'{"status":"ok"}', {})
        elif path == "/readyz":
            await self._readyz(send)
        elif path == "/metrics":
            body = self.metrics.render()
            await send_response(send, 200, body, {}, self.metrics.content_type.encode())
        elif path == "/v1/models" or path.startswith(MODELS_PREFIX):
            await self._models(scope, send)
        elif path == "/openapi.json":
            await send_response(send, 200, self._openapi, {})
        else:
            shape = _shape_of(request_headers(scope, (b"anthropic-version",)))
            error = GatewayError(404, f"no route for {method} {path}", code="not_found")
            await send_response(send, 404, error.body(shape), error.headers)

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

    # -- /v1/models and /v1/models/{model} ------------------------------------------------------

    async def _models(self, scope: Scope, send: Send) -> None:
        headers = request_headers(scope, _AUTH)
        shape = _shape_of(headers)
        try:
            client = self._authenticate(headers)
            if scope["path"] == "/v1/models":
                body = model_list(client.models)
            else:
                model = scope["path"].removeprefix(MODELS_PREFIX)
                if not client.may_use(model):
                    raise GatewayError(
                        404, f"the model '{model}' does not exist or this client may not use it",
                        type_="invalid_request_error", code="model_not_found", param="model",
                    )  # fmt: skip
                body = model_object(model)
        except GatewayError as error:
            await send_response(send, error.status, error.body(shape), error.headers)
            return
        await send_response(send, 200, orjson.dumps(body), {})

    def _authenticate(self, headers: dict[bytes, str]) -> Client:
        """The caller's key: `x-api-key` (Anthropic's SDK), else `Authorization: Bearer`."""
        key = headers.get(b"x-api-key", "").strip()
        if not key:
            scheme, _, token = headers.get(b"authorization", "").partition(" ")
            key = token.strip() if scheme.lower() == "bearer" else ""
        if not key:
            raise GatewayError(
                401,
                "missing API key: send 'Authorization: Bearer <key>' or 'x-api-key: <key>'",
                code="invalid_api_key",
                headers={"www-authenticate": "Bearer"},
            )
        client = self.clients.authenticate(key)
        if client is None:
            raise GatewayError(
                401,
                "invalid API key",
                code="invalid_api_key",
                headers={"www-authenticate": "Bearer"},
            )
        return client

    # -- the LLM APIs: /v1/chat/completions, /v1/messages, /v1/messages/count_tokens ---------

    async def _llm(self, api: Api, scope: Scope, receive: Receive, send: Send) -> None:
        headers = request_headers(scope, _WANTED)
        # The request's own trace id, and its request id unless the caller sends one.
        trace_id = secrets.token_hex(16)
        exchange = Exchange(request_id=trace_id, started=time.perf_counter(), api=api.name)
        self.metrics.in_flight.inc()
        handler = asyncio.current_task()
        if handler is None:  # uvicorn serves every request in a task; nothing else calls this
            raise RuntimeError("an LLM call must be served inside an asyncio task")
        watcher: asyncio.Task[None] | None = None
        try:
            exchange.request_id = checked_id(headers.get(b"x-request-id"), "X-Request-Id") or (
                exchange.request_id
            )
            if scope["method"] != "POST":
                raise GatewayError(405, f"use POST for {api.path}", code="method")
            if api.shape == "anthropic":
                # Where Anthropic's SDK reads the request id (`_request_id`, errors' request_id).
                exchange.extra_headers["request-id"] = exchange.request_id
                checked_version(headers.get(b"anthropic-version"))
            client = exchange.client = self._authenticate(headers)
            request = api.parse(await self._read_json_body(headers, receive))
            exchange.model, exchange.stream = request.model, request.stream
            if not client.may_use(request.model):
                raise GatewayError(
                    403, f"client '{client.name}' may not use model '{request.model}'",
                    type_="permission_error", code="model_not_allowed", param="model",
                )  # fmt: skip
            exchange.dropped_fields = self._dropped(api, request, client)
            decision = await self._rate_limit(client)
            exchange.extra_headers.update(decision.headers())
            if exchange.dropped_fields:
                exchange.extra_headers["x-gateway-dropped-fields"] = ",".join(
                    exchange.dropped_fields
                )
            user_id = checked_id(headers.get(b"x-user-id"), "X-User-Id") or checked_id(
                request.end_user, "user"
            )
            session_id = checked_id(headers.get(b"x-session-id"), "X-Session-Id")
            exchange.body = request.body

            def payload_for(attempt: int) -> bytes:
                # One trace per request: each attempt is a generation of that trace.
                metadata = litellm_metadata(
                    client, exchange.request_id, user_id, session_id, model=request.model,
                    api=api.name, trace_id=trace_id, attempt=attempt,
                )  # fmt: skip
                return orjson.dumps(upstream_body(request, metadata))

            # From here on the caller going away cancels the upstream call at once.
            watcher = asyncio.create_task(self._watch_disconnect(receive, handler, exchange))
            await self.relay.forward(api, request, payload_for, exchange, send)
        except GatewayError as error:
            exchange.status, exchange.error_code = error.status, error.code
            if not exchange.response_started:
                await self._send_error(send, exchange, error, api.shape)
        except ClientGone:
            exchange.status, exchange.disconnected = 499, True
        except Exception:
            # A bug of the gateway's own: logged with its traceback, answered in the API's
            # shape, never with the request's content.
            log.exception("unhandled error in request %s", exchange.request_id)
            exchange.status, exchange.error_code = 500, "internal_error"
            if not exchange.response_started:
                internal = GatewayError(500, "internal gateway error", type_="server_error",
                                        code="internal_error")  # fmt: skip
                await self._send_error(send, exchange, internal, api.shape)
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
            self._finish(exchange, api)

    def _dropped(self, api: Api, request: LlmRequest, client: Client) -> tuple[str, ...]:
        """Every field of the request that will not reach the provider: the gateway's own
        drops and LiteLLM's for this model; or a 400 for a client that asked for that."""
        unsent = self.unsent.of(request.model, api.name, request.body)
        dropped = (
            tuple(sorted({*request.dropped_fields, *unsent})) if unsent else request.dropped_fields
        )
        if dropped and client.reject_unsent_fields:
            raise GatewayError(
                400, f"`{dropped[0]}` would not reach the provider of '{request.model}' "
                f"(fields that would not: {', '.join(dropped)}); remove "
                f"{'it' if len(dropped) == 1 else 'them'}",
                code="unsent_field", param=dropped[0],
            )  # fmt: skip
        return dropped

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

    async def _send_error(
        self, send: Send, exchange: Exchange, error: GatewayError, shape: Shape
    ) -> None:
        exchange.response_started = True
        headers = {"x-request-id": exchange.request_id, **exchange.extra_headers, **error.headers}
        body = error.body(shape, exchange.request_id)
        await send_response(send, error.status, body, headers)

    # -- after the answer: metrics, the access log, token accounting ---------------------------

    def _finish(self, exchange: Exchange, api: Api) -> None:
        elapsed = time.perf_counter() - exchange.started
        client = exchange.client.name if exchange.client else "-"
        model = exchange.model or "-"
        self.metrics.requests.labels(client, model, str(exchange.status)).inc()
        self.metrics.latency.labels(client, model).observe(elapsed)
        if exchange.attempts:
            self.metrics.upstream_latency.labels(model).observe(exchange.upstream_s)
        if exchange.overhead_s is not None:
            self.metrics.overhead.observe(exchange.overhead_s)
        reader, estimated = exchange.stream_reader, False
        if reader is not None:
            # A stream's own usage (also when the caller hung up right after its end), or, cut
            # off before it finished, counted from what was sent (gateway/usage.py).
            tokens = token_counts(reader.usage) if reader.state == "done" else {}
            if "completion" not in tokens:
                tokens = cut_off_counts(reader.usage, reader.content_events, exchange.body or {})
                estimated = True
        elif api.uses_tokens:
            tokens = token_counts(exchange.usage)
        else:
            tokens = {}
        for kind, count in tokens.items():
            self.metrics.tokens.labels(client, model, kind).inc(count)
        self.access_log.write(RequestRecord(
            request_id=exchange.request_id, api=api.name, client=client, model=model,
            status=exchange.status, stream=exchange.stream, latency_ms=ms(elapsed),
            upstream_ms=ms(exchange.upstream_s) if exchange.attempts else None,
            overhead_ms=ms(exchange.overhead_s) if exchange.overhead_s is not None else None,
            attempts=exchange.attempts, prompt_tokens=tokens.get("prompt"),
            completion_tokens=tokens.get("completion"), tokens_estimated=estimated,
            error=exchange.error_code, dropped_fields=exchange.dropped_fields,
        ))  # fmt: skip
        total = sum(tokens.values())
        if exchange.client is not None and total and exchange.client.tokens_per_minute:
            task = asyncio.create_task(self.limiter.record_tokens(exchange.client, total))
            self._background.add(task)
            task.add_done_callback(self._background.discard)


def _shape_of(headers: dict[bytes, str]) -> Shape:
    """The error shape of a route both SDKs call: Anthropic's when its SDK sends the request."""
    return "anthropic" if b"anthropic-version" in headers else "openai"
