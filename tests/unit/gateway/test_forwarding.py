"""What the gateway forwards to LiteLLM: validated, allow-listed, stamped with metadata."""

from __future__ import annotations

from typing import Any

import pytest
from gateway.clients import Client
from gateway.errors import GatewayError
from gateway.forwarding import (
    OPENAI_CHAT_FIELDS,
    checked_id,
    litellm_metadata,
    parse_chat_request,
    upstream_body,
)

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


def test_the_gateway_writes_the_metadata_langfuse_reads() -> None:
    request = parse_chat_request(body(user="body-user", metadata={"session_id": "theirs"}))
    assert request.end_user == "body-user"
    metadata = litellm_metadata(
        CLIENT, "req-1", "user-9", "sess-1", model="claude-sonnet", trace_id="ab" * 16
    )
    assert metadata == {
        "tags": ["client:search"],
        # One trace per request; the generation under an observation nothing exports, so
        # that Langfuse takes the trace's metadata from trace_metadata alone.
        "trace_id": "ab" * 16,
        "parent_observation_id": "ab" * 8,
        "trace_name": "gateway/search",
        "generation_name": "chat.completions claude-sonnet",
        "trace_metadata": {"client": "search", "request_id": "req-1",
                           "api": "chat.completions", "model": "claude-sonnet"},
        "trace_user_id": "user-9",
        "session_id": "sess-1",
    }  # fmt: skip
    sent = upstream_body(request, metadata)
    assert sent["metadata"] is metadata
    assert sent["user"] == "body-user"
    anonymous = litellm_metadata(CLIENT, "req-2", None, None, attempt=2)
    assert "trace_user_id" not in anonymous
    assert "session_id" not in anonymous
    assert anonymous["generation_name"] == "chat.completions (attempt 2)"


def test_every_request_is_its_own_trace_unless_it_is_an_attempt_of_one() -> None:
    first, second = (litellm_metadata(CLIENT, "req", None, "sess") for _ in range(2))
    assert first["trace_id"] != second["trace_id"]
    assert len(first["trace_id"]) == 32
    assert int(first["trace_id"], 16)
    again = litellm_metadata(CLIENT, "req", None, "sess", trace_id=first["trace_id"], attempt=2)
    assert again["trace_id"] == first["trace_id"]
    assert again["parent_observation_id"] == first["parent_observation_id"]


@pytest.mark.parametrize(
    ("options", "wants_usage"),
    [(None, False), ({"include_usage": False}, False), ({"include_usage": True}, True)],
)
def test_every_stream_asks_for_its_usage(options: Any, wants_usage: bool) -> None:
    extra = {} if options is None else {"stream_options": options}
    request = parse_chat_request(body(stream=True, **extra))
    assert request.body["stream_options"] == {"include_usage": True}
    assert request.wants_usage is wants_usage
    assert "stream_options" not in parse_chat_request(body()).body


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
