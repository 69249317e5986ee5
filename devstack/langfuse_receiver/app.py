"""The aiohttp app of the Langfuse OTLP receiver.

A test stand-in for the Langfuse server, never the real thing: it accepts what LiteLLM's
"langfuse" callback exports to `/api/public/otel/v1/traces`, keeps the spans in memory and
serves them on unauthenticated `/_receiver/*` inspection endpoints. Never expose it beyond
127.0.0.1.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hmac
import json
import logging
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any, Final, Literal, get_args

from aiohttp import hdrs, web

from devstack.langfuse_receiver.client import DEFAULT_SPANS_LIMIT
from devstack.langfuse_receiver.otlp import (
    JSON,
    PROTOBUF,
    AttrValue,
    OtlpDecodeError,
    SpanRecord,
    empty_response,
    inflate,
    parse_request,
    spans_from_request,
)

OTLP_PATH: Final = "/api/public/otel/v1/traces"
DEFAULT_MAX_SPANS: Final = 100_000
DEFAULT_HANG_TIMEOUT: Final = 120.0  # seconds a request waits in hang mode before a 504
MAX_BODY_BYTES: Final = 32 * 1024 * 1024  # after decompression
ACCEPTED_ENCODINGS: Final = frozenset({"", "identity", "gzip", "deflate"})
# Options for AppRunner / TestServer: decompress in the handler, log one line per export.
RUNNER_OPTIONS: Final[dict[str, Any]] = {"auto_decompress": False, "access_log": None}
SPAN_FILTERS: Final = frozenset({"session_id", "trace_id", "name", "attribute", "value"})
# Span attributes that carry a session id: LiteLLM's callback sets session.id; Langfuse's
# own OTel convention is langfuse.session.id.
SESSION_ATTRIBUTES: Final = ("session.id", "langfuse.session.id")

Mode = Literal["normal", "hang", "error"]
MODES: Final[tuple[str, ...]] = get_args(Mode)

log = logging.getLogger("devstack.langfuse_receiver")


@dataclass
class Stats:
    """Counters since start; `DELETE /_receiver/spans` does not reset them."""

    requests: int = 0  # every POST to the OTLP endpoint
    accepted_requests: int = 0  # answered 200, spans stored
    spans: int = 0  # spans accepted in total
    rejected_auth: int = 0  # 401
    rejected_parse: int = 0  # 400
    rejected_content_type: int = 0  # 415
    errored: int = 0  # 503 in error mode
    hung: int = 0  # requests that entered hang mode
    hanging: int = 0  # requests waiting in hang mode right now
    dropped_spans: int = 0  # oldest spans evicted by the cap


class ReceiverState:
    """Spans, counters and fault mode of one receiver app. Holds the keys: never log it."""

    def __init__(self, public_key: str, secret_key: str, max_spans: int, hang_timeout: float):
        self._credentials = f"{public_key}:{secret_key}".encode()
        self.spans: deque[SpanRecord] = deque(maxlen=max_spans)
        self.stats = Stats()
        self.hang_timeout = hang_timeout
        self.mode: Mode = "normal"
        self.release = asyncio.Event()  # set whenever the mode is not "hang"
        self.release.set()

    def __repr__(self) -> str:
        return f"ReceiverState(mode={self.mode!r}, spans={len(self.spans)})"

    def set_mode(self, mode: Mode) -> None:
        if mode == "hang" and self.mode != "hang":
            self.release = asyncio.Event()
        elif mode != "hang":
            self.release.set()
        self.mode = mode

    def auth_error(self, header: str | None) -> str | None:
        """Why the Authorization header is not Basic public:secret, or None if it is."""
        if not header:
            return "No authorization header"
        scheme, _, token = header.strip().partition(" ")
        if scheme.lower() != "basic":
            return "Invalid authorization header: expected Basic auth"
        try:
            supplied = base64.b64decode(token.strip(), validate=True)
        except (binascii.Error, ValueError):
            return "Invalid authorization header: not base64"
        if not hmac.compare_digest(supplied, self._credentials):
            return "Invalid credentials: public key or secret key is wrong"
        return None

    def store(self, records: list[SpanRecord]) -> None:
        cap = self.spans.maxlen or 0
        self.stats.dropped_spans += max(0, len(self.spans) + len(records) - cap)
        self.spans.extend(records)
        self.stats.spans += len(records)


STATE: Final = web.AppKey("langfuse_receiver_state", ReceiverState)


def _message(status: int, message: str) -> web.Response:
    return web.json_response({"message": message}, status=status)


async def _export(request: web.Request, state: ReceiverState) -> tuple[web.Response, int]:
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        state.stats.rejected_parse += 1
        return _message(413, f"Request body larger than {MAX_BODY_BYTES} bytes"), 0
    except web.RequestPayloadError as exc:  # a server with auto_decompress=True, bad gzip
        state.stats.rejected_parse += 1
        return _message(400, f"Cannot read request body: {exc}"), 0

    if state.mode == "error":
        state.stats.errored += 1
        return _message(503, "Receiver is in error mode (simulated outage)"), 0
    if state.mode == "hang":
        state.stats.hung += 1
        state.stats.hanging += 1
        try:
            async with asyncio.timeout(state.hang_timeout):
                await state.release.wait()
        except TimeoutError:
            return _message(504, "Receiver hang mode timed out; spans not stored"), 0
        finally:
            state.stats.hanging -= 1
        return _message(503, "Released from hang mode; spans not stored"), 0

    auth_error = state.auth_error(request.headers.get(hdrs.AUTHORIZATION))
    if auth_error is not None:
        state.stats.rejected_auth += 1
        return _message(401, auth_error), 0

    content_type = request.content_type
    if content_type not in (PROTOBUF, JSON):
        state.stats.rejected_content_type += 1
        return _message(415, f"Unsupported Content-Type {content_type!r}"), 0
    encoding = request.headers.get(hdrs.CONTENT_ENCODING, "").strip().lower()
    if encoding not in ACCEPTED_ENCODINGS:
        state.stats.rejected_content_type += 1
        return _message(415, f"Unsupported Content-Encoding {encoding!r}"), 0
    # Servers run with auto_decompress=False (see RUNNER_OPTIONS) so a bad stream is a clean
    # 400; if aiohttp did decompress (total_compressed_bytes is set), the body is plain.
    decompress = encoding in {"gzip", "deflate"} and request.content.total_compressed_bytes is None

    try:
        if decompress:
            body = inflate(body, encoding, MAX_BODY_BYTES)
        records = spans_from_request(
            parse_request(body, content_type),
            ingestion_version=request.headers.get("x-langfuse-ingestion-version"),
            received_at=time.time(),
        )
    except OtlpDecodeError as exc:
        state.stats.rejected_parse += 1
        return _message(400, f"Invalid OTLP trace export: {exc}"), 0

    state.store(records)
    state.stats.accepted_requests += 1
    return web.Response(body=empty_response(content_type), content_type=content_type), len(records)


async def handle_otlp(request: web.Request) -> web.Response:
    state = request.app[STATE]
    state.stats.requests += 1
    started = time.perf_counter()
    outcome, span_count = "aborted", 0  # the client went away, or a bug
    try:
        response, span_count = await _export(request, state)
        outcome = str(response.status)
        return response
    finally:
        # Status, size and timing only: never headers (Authorization) or attribute contents.
        log.info(
            "OTLP export status=%s spans=%d latency_ms=%.1f mode=%s type=%s encoding=%s",
            outcome,
            span_count,
            (time.perf_counter() - started) * 1000,
            state.mode,
            request.content_type,
            request.headers.get(hdrs.CONTENT_ENCODING, "identity"),
        )


def _as_query_text(value: AttrValue) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True)  # true/false/null, numbers, arrays, objects


def filter_spans(spans: Iterable[SpanRecord], query: dict[str, str]) -> list[SpanRecord]:
    session_id = query.get("session_id")
    trace_id = query.get("trace_id", "").lower()
    name = query.get("name")
    attribute = query.get("attribute")
    value = query.get("value")
    result = []
    for span in spans:
        if session_id is not None and all(
            span["attributes"].get(key) != session_id for key in SESSION_ATTRIBUTES
        ):
            continue
        if trace_id and span["trace_id"] != trace_id:
            continue
        if name is not None and span["name"] != name:
            continue
        if attribute is not None:
            if attribute not in span["attributes"]:
                continue
            if value is not None and _as_query_text(span["attributes"][attribute]) != value:
                continue
        result.append(span)
    return result


async def handle_spans(request: web.Request) -> web.Response:
    """The latest `limit` spans that match every filter given, oldest first; `limit` is
    DEFAULT_SPANS_LIMIT unless given, 0 for all. `matched` counts every match."""
    query = dict(request.query)
    limit_text = query.pop("limit", str(DEFAULT_SPANS_LIMIT))
    unknown = sorted(set(query) - SPAN_FILTERS)
    if unknown:
        known = sorted(SPAN_FILTERS | {"limit"})
        return _message(400, f"Unknown filters {unknown}; known: {known}")
    if "value" in query and "attribute" not in query:
        return _message(400, "The value filter needs an attribute filter")
    try:
        limit = int(limit_text)
    except ValueError:
        limit = -1
    if limit < 0:
        return _message(400, "limit must be a whole number: the latest N spans, 0 for all")
    matched = filter_spans(request.app[STATE].spans, query)
    shown = matched[-limit:] if limit else matched
    return web.json_response({"spans": shown, "matched": len(matched), "limit": limit})


async def handle_clear(request: web.Request) -> web.Response:
    state = request.app[STATE]
    cleared = len(state.spans)
    state.spans.clear()
    return web.json_response({"cleared": cleared})


async def handle_stats(request: web.Request) -> web.Response:
    state = request.app[STATE]
    return web.json_response({**asdict(state.stats), "stored_spans": len(state.spans)})


async def handle_get_mode(request: web.Request) -> web.Response:
    return web.json_response({"mode": request.app[STATE].mode})


async def handle_set_mode(request: web.Request) -> web.Response:
    try:
        payload: Any = await request.json()
    except ValueError:
        return _message(400, 'Body must be JSON like {"mode": "normal"}')
    mode = payload.get("mode") if isinstance(payload, dict) else None
    if mode not in MODES:
        return _message(400, f"mode must be one of {list(MODES)}")
    state = request.app[STATE]
    state.set_mode(mode)
    log.info("mode set to %s", mode)
    return web.json_response({"mode": state.mode})


async def handle_healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def handle_langfuse_health(_request: web.Request) -> web.Response:
    return web.json_response({"status": "OK", "version": "receiver"})


async def _release_hung_requests(app: web.Application) -> None:
    # On shutdown, answer hung requests at once instead of holding the process open.
    with contextlib.suppress(KeyError):
        app[STATE].release.set()


def create_app(
    public_key: str,
    secret_key: str,
    *,
    max_spans: int = DEFAULT_MAX_SPANS,
    hang_timeout: float = DEFAULT_HANG_TIMEOUT,
) -> web.Application:
    """Build the receiver; the keys are the Basic auth the OTLP endpoint requires."""
    if not public_key or not secret_key:
        raise ValueError("public_key and secret_key must be non-empty")
    if max_spans < 1:
        raise ValueError("max_spans must be at least 1")
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app[STATE] = ReceiverState(public_key, secret_key, max_spans, hang_timeout)
    app.on_shutdown.append(_release_hung_requests)
    app.router.add_post(OTLP_PATH, handle_otlp)
    app.router.add_get("/api/public/health", handle_langfuse_health)
    app.router.add_get("/healthz", handle_healthz)
    app.router.add_get("/_receiver/spans", handle_spans)
    app.router.add_delete("/_receiver/spans", handle_clear)
    app.router.add_get("/_receiver/stats", handle_stats)
    app.router.add_get("/_receiver/mode", handle_get_mode)
    app.router.add_post("/_receiver/mode", handle_set_mode)
    return app
