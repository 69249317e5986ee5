"""In-process tests of the Langfuse OTLP receiver (the test stand-in for the Langfuse server)."""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
import logging
import zlib
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import (
    AnyValue,
    ArrayValue,
    InstrumentationScope,
    KeyValue,
    KeyValueList,
)
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from devstack.langfuse_receiver.app import OTLP_PATH, RUNNER_OPTIONS, create_app
from devstack.langfuse_receiver.client import DEFAULT_SPANS_LIMIT

PUBLIC_KEY = "pk-lf-test"
SECRET_KEY = "sk-lf-test-secret"
AUTH = "Basic " + base64.b64encode(f"{PUBLIC_KEY}:{SECRET_KEY}".encode()).decode()
PROTOBUF = "application/x-protobuf"
JSON = "application/json"
TRACE_HEX = "5b8efff798038103d269b633813fc60c"
SPAN_HEX = "eee19b7ec3c1b174"
PARENT_HEX = "eee19b7ec3c1b173"
START_NS = 1_700_000_000_000_000_000

Client = TestClient[web.Request, web.Application]


def _kv(key: str, value: AnyValue) -> KeyValue:
    return KeyValue(key=key, value=value)


def _str(text: str) -> AnyValue:
    return AnyValue(string_value=text)


def make_request(
    *,
    name: str = "litellm-acompletion",
    trace_hex: str = TRACE_HEX,
    span_hex: str = SPAN_HEX,
    session: str = "sess-1",
    input_tokens: int = 12,
) -> ExportTraceServiceRequest:
    """One span shaped like what LiteLLM's langfuse callback exports."""
    span = Span(
        trace_id=bytes.fromhex(trace_hex),
        span_id=bytes.fromhex(span_hex),
        parent_span_id=bytes.fromhex(PARENT_HEX),
        name=name,
        kind=Span.SPAN_KIND_CLIENT,
        start_time_unix_nano=START_NS,
        end_time_unix_nano=START_NS + 250_000_000,
        attributes=[
            _kv("session.id", _str(session)),
            _kv("langfuse.observation.type", _str("generation")),
            _kv("gen_ai.usage.input_tokens", AnyValue(int_value=input_tokens)),
            _kv("gen_ai.request.temperature", AnyValue(double_value=0.25)),
            _kv("llm.is_streaming", AnyValue(bool_value=True)),
            _kv(
                "langfuse.trace.tags",
                AnyValue(array_value=ArrayValue(values=[_str("prod"), AnyValue(int_value=7)])),
            ),
            _kv(
                "langfuse.observation.metadata",
                AnyValue(
                    kvlist_value=KeyValueList(
                        values=[
                            _kv("user", _str("u-1")),
                            _kv("retries", AnyValue(int_value=2)),
                            _kv("models", AnyValue(array_value=ArrayValue(values=[_str("a")]))),
                        ]
                    )
                ),
            ),
            _kv("raw", AnyValue(bytes_value=b"\x01\xff")),
            _kv("empty", AnyValue()),
        ],
        events=[
            Span.Event(
                name="exception",
                time_unix_nano=START_NS + 1,
                attributes=[_kv("exception.type", _str("RateLimitError"))],
            )
        ],
        status=Status(code=Status.STATUS_CODE_ERROR, message="upstream returned 429"),
    )
    return ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                resource=Resource(
                    attributes=[
                        _kv("service.name", _str("litellm")),
                        _kv("telemetry.sdk.language", _str("python")),
                    ]
                ),
                scope_spans=[
                    ScopeSpans(
                        scope=InstrumentationScope(name="langfuse-sdk", version="4.7.0"),
                        spans=[span],
                    )
                ],
            )
        ]
    )


def to_otlp_json(message: ExportTraceServiceRequest) -> bytes:
    """OTLP/JSON as an exporter writes it: the protobuf JSON mapping, but hex ids."""
    document = json_format.MessageToDict(message)
    for resource_spans in document["resourceSpans"]:
        for scope_spans in resource_spans["scopeSpans"]:
            for span in scope_spans["spans"]:
                for key in ("traceId", "spanId", "parentSpanId"):
                    span[key] = base64.b64decode(span[key]).hex().upper()  # hex is case-blind
    return json.dumps(document).encode()


def run(test: Callable[[Client], Awaitable[None]], **app_options: Any) -> None:
    """Serve a fresh receiver on 127.0.0.1 as `python -m devstack.langfuse_receiver` does."""

    async def main() -> None:
        server = TestServer(create_app(PUBLIC_KEY, SECRET_KEY, **app_options))
        await server.start_server(**RUNNER_OPTIONS)
        async with TestClient(server) as client:
            await test(client)

    asyncio.run(main())


async def post(
    client: Client,
    body: bytes,
    *,
    content_type: str = PROTOBUF,
    auth: str | None = AUTH,
    encoding: str | None = None,
    client_timeout: float | None = None,
) -> aiohttp.ClientResponse:
    headers = {"Content-Type": content_type, "x-langfuse-ingestion-version": "4"}
    if auth is not None:
        headers["Authorization"] = auth
    if encoding is not None:
        headers["Content-Encoding"] = encoding
    return await client.post(
        OTLP_PATH, data=body, headers=headers, timeout=aiohttp.ClientTimeout(total=client_timeout)
    )


async def get_json(client: Client, path: str) -> Any:
    response = await client.get(path)
    assert response.status == 200, await response.text()
    return await response.json()


async def set_mode(client: Client, mode: str) -> None:
    response = await client.post("/_receiver/mode", json={"mode": mode})
    assert response.status == 200


def assert_decoded(span: dict[str, Any]) -> None:
    assert span["trace_id"] == TRACE_HEX
    assert span["span_id"] == SPAN_HEX
    assert span["parent_span_id"] == PARENT_HEX
    assert span["name"] == "litellm-acompletion"
    assert span["kind"] == "SPAN_KIND_CLIENT"
    assert span["start_time_unix_nano"] == START_NS
    assert span["end_time_unix_nano"] == START_NS + 250_000_000
    assert span["status"] == {"code": "STATUS_CODE_ERROR", "message": "upstream returned 429"}
    assert span["attributes"] == {
        "session.id": "sess-1",
        "langfuse.observation.type": "generation",
        "gen_ai.usage.input_tokens": 12,
        "gen_ai.request.temperature": 0.25,
        "llm.is_streaming": True,
        "langfuse.trace.tags": ["prod", 7],
        "langfuse.observation.metadata": {"user": "u-1", "retries": 2, "models": ["a"]},
        "raw": "01ff",
        "empty": None,
    }
    assert span["events"] == [
        {
            "name": "exception",
            "time_unix_nano": START_NS + 1,
            "attributes": {"exception.type": "RateLimitError"},
        }
    ]
    assert span["links"] == []
    assert span["resource_attributes"] == {
        "service.name": "litellm",
        "telemetry.sdk.language": "python",
    }
    assert span["scope"] == {"name": "langfuse-sdk", "version": "4.7.0"}
    assert span["ingestion_version"] == "4"
    assert isinstance(span["received_at"], float)


@pytest.mark.parametrize("encoding", ["protobuf", "gzip-protobuf", "deflate-protobuf", "json"])
def test_export_is_decoded_and_answered_in_kind(encoding: str) -> None:
    async def test(client: Client) -> None:
        message = make_request()
        if encoding == "json":
            response = await post(client, to_otlp_json(message), content_type=JSON)
            assert response.content_type == JSON
            json_format.Parse(await response.text(), ExportTraceServiceResponse())
        else:
            body = message.SerializeToString()
            content_encoding = encoding.split("-")[0] if "-" in encoding else None
            if content_encoding == "gzip":
                body = gzip.compress(body)
            elif content_encoding == "deflate":
                body = zlib.compress(body)
            response = await post(client, body, encoding=content_encoding)
            assert response.content_type == PROTOBUF
            ExportTraceServiceResponse().ParseFromString(await response.read())
        assert response.status == 200
        (span,) = (await get_json(client, "/_receiver/spans"))["spans"]
        assert_decoded(span)
        stats = await get_json(client, "/_receiver/stats")
        assert stats["requests"] == stats["accepted_requests"] == stats["spans"] == 1

    run(test)


def test_gzip_also_works_when_aiohttp_decompresses() -> None:
    async def main() -> None:
        async with TestClient(TestServer(create_app(PUBLIC_KEY, SECRET_KEY))) as client:
            body = gzip.compress(make_request().SerializeToString())
            assert (await post(client, body, encoding="gzip")).status == 200
            assert_decoded((await get_json(client, "/_receiver/spans"))["spans"][0])

    asyncio.run(main())


def test_filters() -> None:
    async def test(client: Client) -> None:
        first = make_request(name="first", session="sess-1", input_tokens=5)
        other_trace = "0af7651916cd43dd8448eb211c80319c"
        second = make_request(
            name="second", trace_hex=other_trace, span_hex="b7ad6b7169203331", session="sess-2"
        )
        for message in (first, second):
            assert (await post(client, message.SerializeToString())).status == 200

        async def names(query: str) -> list[str]:
            body = await get_json(client, f"/_receiver/spans{query}")
            return [span["name"] for span in body["spans"]]

        assert await names("") == ["first", "second"]
        assert await names(f"?trace_id={other_trace.upper()}") == ["second"]
        assert await names("?attribute=session.id&value=sess-1") == ["first"]
        assert await names("?attribute=gen_ai.usage.input_tokens&value=5") == ["first"]
        assert await names("?attribute=llm.is_streaming&value=true") == ["first", "second"]
        assert await names("?attribute=session.id") == ["first", "second"]
        assert await names("?attribute=no.such.attribute") == []
        assert await names(f"?name=second&trace_id={TRACE_HEX}") == []
        assert (await client.get("/_receiver/spans?traceid=x")).status == 400
        assert (await client.get("/_receiver/spans?value=x")).status == 400

        cleared = await (await client.delete("/_receiver/spans")).json()
        assert cleared == {"cleared": 2}
        assert await names("") == []
        assert (await get_json(client, "/_receiver/stats"))["spans"] == 2  # counters stay

    run(test)


def test_the_spans_endpoint_answers_the_latest_20_unless_given_a_limit() -> None:
    """A few minutes of traffic is megabytes of spans: asked without a limit, the endpoint
    answers the latest DEFAULT_SPANS_LIMIT, oldest first, and counts every match."""

    async def test(client: Client) -> None:
        for i in range(DEFAULT_SPANS_LIMIT + 5):
            message = make_request(name=f"span-{i}", span_hex=f"{i + 1:016x}", session="sess-a")
            assert (await post(client, message.SerializeToString())).status == 200

        async def names(query: str) -> tuple[list[str], int, int]:
            body = await get_json(client, f"/_receiver/spans{query}")
            return [span["name"] for span in body["spans"]], body["matched"], body["limit"]

        total = DEFAULT_SPANS_LIMIT + 5
        assert await names("") == (
            [f"span-{i}" for i in range(5, total)],
            total,
            DEFAULT_SPANS_LIMIT,
        )
        assert await names("?limit=2") == (["span-23", "span-24"], total, 2)
        assert len((await names("?limit=0"))[0]) == total
        assert await names("?limit=3&name=span-1") == (["span-1"], 1, 3)
        for bad in ("-1", "x", ""):
            response = await client.get(f"/_receiver/spans?limit={bad}")
            assert response.status == 400
            assert "limit must be a whole number" in (await response.json())["message"]

    run(test)


def test_the_session_id_filter_matches_session_id_or_langfuse_session_id() -> None:
    async def test(client: Client) -> None:
        ours = make_request(name="ours", session="sess-ours")
        theirs = make_request(name="theirs", span_hex="b7ad6b7169203331", session="sess-theirs")
        langfuse_style = make_request(name="langfuse-style", span_hex="b7ad6b7169203332")
        span = langfuse_style.resource_spans[0].scope_spans[0].spans[0]
        del span.attributes[:]
        span.attributes.append(_kv("langfuse.session.id", _str("sess-ours")))
        for message in (ours, theirs, langfuse_style):
            assert (await post(client, message.SerializeToString())).status == 200

        body = await get_json(client, "/_receiver/spans?session_id=sess-ours")
        assert [span["name"] for span in body["spans"]] == ["ours", "langfuse-style"]
        body = await get_json(
            client, f"/_receiver/spans?session_id=sess-theirs&trace_id={TRACE_HEX}"
        )
        assert [span["name"] for span in body["spans"]] == ["theirs"]
        assert (await get_json(client, "/_receiver/spans?session_id=none"))["spans"] == []
        response = await client.get("/_receiver/spans?session=sess-ours")
        assert response.status == 400
        message = (await response.json())["message"]
        assert "'limit'" in message
        assert "'session_id'" in message

    run(test)


@pytest.mark.parametrize(
    "auth",
    [
        None,
        "Basic " + base64.b64encode(f"{PUBLIC_KEY}:wrong".encode()).decode(),
        "Basic " + base64.b64encode(f"{PUBLIC_KEY}:{SECRET_KEY}x".encode()).decode(),
        "Bearer " + SECRET_KEY,
        "Basic !!not-base64!!",
    ],
)
def test_wrong_or_missing_auth_is_401(auth: str | None) -> None:
    async def test(client: Client) -> None:
        response = await post(client, make_request().SerializeToString(), auth=auth)
        assert response.status == 401
        body = await response.json()
        assert set(body) == {"message"}
        assert SECRET_KEY not in body["message"]
        stats = await get_json(client, "/_receiver/stats")
        assert stats["rejected_auth"] == 1
        assert stats["requests"] == 1
        assert stats["accepted_requests"] == stats["stored_spans"] == 0

    run(test)


@pytest.mark.parametrize(
    ("body", "content_type", "encoding", "problem"),
    [
        (b"not a protobuf \xff\x00", PROTOBUF, None, "protobuf"),
        (b"\x1f\x8b garbage", PROTOBUF, "gzip", "gzip"),
        (gzip.compress(b"x" * 100)[:20], PROTOBUF, "gzip", "truncated"),
        (b"{not json", JSON, None, "JSON"),
        (b'{"resourceSpans": {}}', JSON, None, "array"),
        (
            b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"spanId": "zz"}]}]}]}',
            JSON,
            None,
            "hex",
        ),
        (b'{"resourceSpans": [{"bogus": 1, "resource": 5}]}', JSON, None, "OTLP/JSON"),
        (make_request(trace_hex="abcd").SerializeToString(), PROTOBUF, None, "trace_id"),
    ],
)
def test_unparseable_body_is_400(
    body: bytes, content_type: str, encoding: str | None, problem: str
) -> None:
    async def test(client: Client) -> None:
        response = await post(client, body, content_type=content_type, encoding=encoding)
        assert response.status == 400
        assert problem in (await response.json())["message"]
        stats = await get_json(client, "/_receiver/stats")
        assert stats["rejected_parse"] == 1
        assert stats["stored_spans"] == 0

    run(test)


@pytest.mark.parametrize(("content_type", "encoding"), [("text/plain", None), (PROTOBUF, "br")])
def test_unsupported_media_is_415(content_type: str, encoding: str | None) -> None:
    async def test(client: Client) -> None:
        body = make_request().SerializeToString()
        response = await post(client, body, content_type=content_type, encoding=encoding)
        assert response.status == 415
        assert "Unsupported" in (await response.json())["message"]
        assert (await get_json(client, "/_receiver/stats"))["rejected_content_type"] == 1

    run(test)


def test_span_cap_drops_oldest() -> None:
    async def test(client: Client) -> None:
        for i in range(5):
            message = make_request(name=f"span-{i}", span_hex=f"{i + 1:016x}")
            assert (await post(client, message.SerializeToString())).status == 200
        spans = (await get_json(client, "/_receiver/spans"))["spans"]
        assert [span["name"] for span in spans] == ["span-2", "span-3", "span-4"]
        stats = await get_json(client, "/_receiver/stats")
        assert (stats["spans"], stats["stored_spans"], stats["dropped_spans"]) == (5, 3, 2)

    run(test, max_spans=3)


def test_error_mode_is_503_and_stores_nothing() -> None:
    async def test(client: Client) -> None:
        await set_mode(client, "error")
        assert await get_json(client, "/_receiver/mode") == {"mode": "error"}
        response = await post(client, make_request().SerializeToString())
        assert response.status == 503
        assert (await get_json(client, "/_receiver/spans"))["spans"] == []
        assert (await get_json(client, "/_receiver/stats"))["errored"] == 1

        await set_mode(client, "normal")
        assert (await post(client, make_request().SerializeToString())).status == 200

    run(test)


def test_hang_mode_holds_requests_until_normal() -> None:
    async def test(client: Client) -> None:
        body = make_request().SerializeToString()
        await set_mode(client, "hang")
        with pytest.raises(TimeoutError):
            await post(client, body, client_timeout=0.3)

        pending = asyncio.create_task(post(client, body))
        for _ in range(200):
            if (await get_json(client, "/_receiver/stats"))["hanging"] == 1:
                break
            await asyncio.sleep(0.01)
        assert not pending.done()
        await set_mode(client, "normal")
        response = await asyncio.wait_for(pending, timeout=5)
        assert response.status == 503  # released, but a hung server ingested nothing
        stats = await get_json(client, "/_receiver/stats")
        assert (stats["hung"], stats["hanging"], stats["stored_spans"]) == (2, 0, 0)
        assert (await post(client, body)).status == 200

    run(test)


def test_hang_mode_gives_up_with_504() -> None:
    async def test(client: Client) -> None:
        await set_mode(client, "hang")
        response = await post(client, make_request().SerializeToString(), client_timeout=5)
        assert response.status == 504
        assert (await get_json(client, "/_receiver/stats"))["stored_spans"] == 0

    run(test, hang_timeout=0.2)


@pytest.mark.parametrize("payload", [b"not json", b'{"mode": "sideways"}', b"[]"])
def test_bad_mode_is_400(payload: bytes) -> None:
    async def test(client: Client) -> None:
        response = await client.post("/_receiver/mode", data=payload)
        assert response.status == 400
        assert await get_json(client, "/_receiver/mode") == {"mode": "normal"}

    run(test)


def test_health_endpoints() -> None:
    async def test(client: Client) -> None:
        assert (await client.get("/healthz")).status == 200
        body = await get_json(client, "/api/public/health")
        assert body == {"status": "OK", "version": "receiver"}

    run(test)


def test_one_log_line_per_export_without_secrets(caplog: pytest.LogCaptureFixture) -> None:
    async def test(client: Client) -> None:
        assert (await post(client, make_request().SerializeToString())).status == 200
        assert (await post(client, b"", auth="Basic " + SECRET_KEY)).status == 401

    with caplog.at_level(logging.INFO, logger="devstack.langfuse_receiver"):
        run(test)
    lines = [r.getMessage() for r in caplog.records if r.name == "devstack.langfuse_receiver"]
    assert len(lines) == 2
    assert "status=200 spans=1" in lines[0]
    assert "status=401 spans=0" in lines[1]
    assert all("latency_ms=" in line for line in lines)
    for secret in (SECRET_KEY, PUBLIC_KEY, "sess-1", "RateLimitError"):
        assert secret not in caplog.text


def test_create_app_needs_keys() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        create_app(PUBLIC_KEY, "")
