"""What the gateway forwards to LiteLLM: validated, allow-listed, stamped with metadata."""

from __future__ import annotations

from typing import Any

import pytest
from gateway.clients import Client
from gateway.errors import GatewayError
from gateway.forwarding import OPENAI_CHAT_FIELDS, checked_id, parse_chat_request, upstream_body

CLIENT = Client(name="search", key_sha256="0" * 64, models=("claude-sonnet",))


def body(**extra: Any) -> dict[str, Any]:
    return {"model": "claude-sonnet", "messages": [{"role": "user", "content": "hi"}], **extra}


def test_only_openai_fields_pass_and_the_rest_are_named() -> None:
    request = parse_chat_request(body(
        temperature=0.2, api_base="http://x", mock_response="m", langfuse_secret_key="k",
        metadata={"session_id": "theirs"}, litellm_metadata={}, fallbacks=["a"],
    ))  # fmt: skip
    assert set(request.body) == {"model", "messages", "temperature"}
    assert request.dropped_fields == (
        "api_base", "fallbacks", "langfuse_secret_key", "litellm_metadata", "metadata",
        "mock_response",
    )  # fmt: skip
    assert "metadata" not in OPENAI_CHAT_FIELDS


def test_the_gateway_writes_the_metadata() -> None:
    request = parse_chat_request(body(user="body-user", metadata={"session_id": "theirs"}))
    sent = upstream_body(request, CLIENT, "req-1", None, "sess-1")
    assert sent["metadata"] == {
        "tags": ["client:search"],
        "trace_name": "gateway/search",
        "trace_metadata": {"client": "search", "gateway_request_id": "req-1"},
        "gateway_request_id": "req-1",
        "trace_user_id": "body-user",
        "session_id": "sess-1",
    }
    header_user = upstream_body(request, CLIENT, "req-1", "header-user", None)["metadata"]
    assert header_user["trace_user_id"] == "header-user"
    assert "session_id" not in header_user


@pytest.mark.parametrize(
    ("payload", "param"),
    [
        ({"model": 3, "messages": []}, "model"),
        (body(messages=[{"role": {}, "content": "x"}]), "messages[0].role"),
        (body(messages=[{"role": "system", "content": None}]), "messages[0].content"),
        (body(messages=[{"role": "user", "content": []}]), "messages[0].content"),
        (body(messages=[{"role": "user", "content": "x", "name": {}}]), "messages[0].name"),
        (body(messages=[{"role": "tool", "content": "x"}]), "messages[0].tool_call_id"),
        (body(max_tokens={}), "max_tokens"),
        (body(max_tokens=True), "max_tokens"),
        (body(temperature="hot"), "temperature"),
        (body(stream="yes"), "stream"),
        (body(stop=[1]), "stop"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(payload: Any, param: str) -> None:
    with pytest.raises(GatewayError) as raised:
        parse_chat_request(payload)
    assert raised.value.status == 400
    assert raised.value.param == param


def test_an_assistant_turn_with_tool_calls_may_omit_content() -> None:
    calls = [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]
    messages = [
        {"role": "user", "content": "use a tool"},
        {"role": "assistant", "content": None, "tool_calls": calls},
        {"role": "tool", "content": "42", "tool_call_id": "c1"},
    ]
    assert parse_chat_request(body(messages=messages)).body["messages"] == messages


@pytest.mark.parametrize("value", ["x" * 257, "bad\nid", "tab\tid"])
def test_ids_from_headers_are_bounded_and_printable(value: str) -> None:
    with pytest.raises(GatewayError):
        checked_id(value, "X-Session-Id")
    assert checked_id("ok-id", "X-Session-Id") == "ok-id"
    assert checked_id("", "X-Session-Id") is None
