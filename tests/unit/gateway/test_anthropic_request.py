"""The Messages API's requests: validated, allow-listed, `metadata` down to `user_id`, the
gateway's own metadata where LiteLLM's /v1/messages reads it."""

from __future__ import annotations

from typing import Any

import pytest
from gateway.anthropic_request import (
    checked_version,
    parse_count_tokens_request,
    parse_messages_request,
)
from gateway.errors import GatewayError
from gateway.forwarding import upstream_body


def body(**extra: Any) -> dict[str, Any]:
    return {"model": "claude-sonnet", "max_tokens": 64,
            "messages": [{"role": "user", "content": "hi"}], **extra}  # fmt: skip


def test_only_the_apis_fields_pass_and_metadata_keeps_only_user_id() -> None:
    request = parse_messages_request(body(
        stream=True, temperature=0.2, api_base="http://x", litellm_metadata={"trace_id": "x"},
        metadata={"user_id": "end-user-1", "session_id": "theirs", "trace_id": "theirs"},
    ))  # fmt: skip
    assert set(request.body) == {"model", "max_tokens", "messages", "stream", "temperature",
                                 "metadata"}  # fmt: skip
    assert request.body["metadata"] == {"user_id": "end-user-1"}
    assert request.end_user == "end-user-1"
    assert request.stream
    assert request.dropped_fields == (
        "api_base",
        "litellm_metadata",
        "metadata.session_id",
        "metadata.trace_id",
    )
    sent = upstream_body(request, {"trace_id": "ours"})
    assert sent["litellm_metadata"] == {"trace_id": "ours"}
    assert sent["metadata"] == {"user_id": "end-user-1"}


@pytest.mark.parametrize(
    ("payload", "param"),
    [
        ({"model": "claude-sonnet", "messages": [{"role": "user", "content": "x"}]}, "max_tokens"),
        (body(max_tokens=0), "max_tokens"),
        (body(max_tokens="9"), "max_tokens"),
        (body(messages=[]), "messages"),
        (body(messages=[{"role": "system", "content": "x"}]), "messages[0].role"),
        (body(messages=[{"role": {}, "content": "x"}]), "messages[0].role"),
        (body(messages=[{"role": "user", "content": []}]), "messages[0].content"),
        (body(messages=[{"role": "user", "content": [{"text": "x"}]}]), "messages[0].content"),
        (body(system=3), "system"),
        (body(stop_sequences=["a", 1]), "stop_sequences"),
        (body(tools=[{"name": "f"}]), "tools[0].input_schema"),
        (body(tool_choice="auto"), "tool_choice"),
        (body(metadata={"user_id": 7}), "metadata.user_id"),
        ({"messages": [{"role": "user", "content": "x"}], "max_tokens": 1}, "model"),
    ],
)  # fmt: skip
def test_bad_input_is_a_400_naming_the_field(payload: Any, param: str) -> None:
    with pytest.raises(GatewayError) as raised:
        parse_messages_request(payload)
    assert (raised.value.status, raised.value.param) == (400, param)


def test_a_null_metadata_is_no_metadata() -> None:
    request = parse_messages_request(body(metadata=None))
    assert "metadata" not in request.body
    assert request.end_user is None


def test_count_tokens_takes_what_litellm_counts_and_is_not_traced() -> None:
    request = parse_count_tokens_request(body(system="be brief"))
    assert set(request.body) == {"model", "messages", "system"}
    assert request.dropped_fields == ("max_tokens",)
    assert upstream_body(request, {"trace_id": "x"}) == request.body


def test_anthropic_version_is_required_and_known() -> None:
    checked_version("2023-06-01")
    for value in (None, "2099-01-01"):
        with pytest.raises(GatewayError) as raised:
            checked_version(value)
        assert raised.value.param == "anthropic-version"
