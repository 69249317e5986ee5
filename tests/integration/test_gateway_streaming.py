"""Streams pass through chunk by chunk; a caller leaving cancels the upstream call; a stalled
stream ends with an error event."""

from __future__ import annotations

import itertools
import math
import socket
import time
import uuid

import httpx
import orjson
import pytest
from provider_emulator.tokens import count_tokens

from devstack.stack import LocalStack
from tests.integration.conftest import CLIENTS, STREAM_IDLE_TIMEOUT_S
from tests.integration.gateway_calls import auth, chat_body, emulator_stats
from tests.integration.test_gateway_api import access_log_line

pytestmark = pytest.mark.integration

FULL = CLIENTS["full"]


def test_chunks_arrive_as_the_provider_sends_them(stack: LocalStack) -> None:
    """The emulator sends a chunk every 100 ms; each must reach the caller on its own."""
    delay_s = 0.1
    body = chat_body("claude-sonnet", "Stream. [[emulator:chunk_delay_ms=100]]", stream=True)
    arrivals: list[float] = []
    with httpx.stream("POST", f"{stack.gateway_url}/v1/chat/completions", json=body,
                      headers=auth(FULL), timeout=30) as response:  # fmt: skip
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("data: {") and '"content":"' in line:
                arrivals.append(time.monotonic())
    assert len(arrivals) > 10
    # Buffered, they would all arrive together at the end. Passed through, the first
    # arrives while the provider still has most of the answer to send.
    assert arrivals[-1] - arrivals[0] >= (len(arrivals) - 2) * delay_s * 0.8
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    assert sorted(gaps)[len(gaps) // 2] >= delay_s * 0.5


def _raw_stream_request(stack: LocalStack, body: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", stack.ports.gateway), timeout=10)
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: gateway\r\n"
        f"Authorization: Bearer {FULL.key}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    sock.sendall(head.encode() + body)
    return sock


def test_a_caller_that_disconnects_cancels_the_upstream_call(stack: LocalStack) -> None:
    before = emulator_stats(stack)["client_disconnects"]
    body = orjson.dumps(
        chat_body("groq-llama", "Long answer. [[emulator:chunk_delay_ms=300]]", stream=True)
    )
    sock = _raw_stream_request(stack, body)
    received = b""
    while received.count(b"data: ") < 2:
        received += sock.recv(4096)
    sock.close()  # the caller goes away mid-stream

    # The emulator (behind LiteLLM) sees its connection close long before the ~10 s the
    # answer would take: the gateway closed LiteLLM's connection, LiteLLM closed its own.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if emulator_stats(stack)["client_disconnects"] > before:
            break
        time.sleep(0.1)
    assert emulator_stats(stack)["client_disconnects"] == before + 1
    assert emulator_stats(stack)["open_streams"] == 0


def test_a_stalled_stream_ends_with_an_error_event(stack: LocalStack) -> None:
    body = chat_body("claude-sonnet", "Stall. [[emulator:stall_after=3,stall_s=30]]", stream=True)
    events: list[str] = []
    started = time.monotonic()
    with httpx.stream("POST", f"{stack.gateway_url}/v1/chat/completions", json=body,
                      headers=auth(FULL), timeout=30) as response:  # fmt: skip
        assert response.status_code == 200
        events = [line for line in response.iter_lines() if line.startswith("data: ")]
    elapsed = time.monotonic() - started
    error = orjson.loads(events[-2].removeprefix("data: "))["error"]
    assert error["code"] == "upstream_timeout"
    assert events[-1] == "data: [DONE]"
    # It ends once the idle timeout passes, not when the provider gives up after 30 s.
    assert STREAM_IDLE_TIMEOUT_S <= elapsed < STREAM_IDLE_TIMEOUT_S + 10


def test_a_stream_cut_off_is_counted_from_what_was_sent(stack: LocalStack) -> None:
    """The caller leaves after 4 events: no usage ever comes, so the prompt is estimated (4
    characters a token) and each content event the gateway relayed counts one token."""
    request_id = f"cut-{uuid.uuid4()}"
    content = "Long answer. [[emulator:chunk_delay_ms=200]]"
    body = orjson.dumps(chat_body("groq-llama", content, stream=True))
    sock = socket.create_connection(("127.0.0.1", stack.ports.gateway), timeout=10)
    sock.sendall(
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: gateway\r\nX-Request-Id: {request_id}\r\n"
        f"Authorization: Bearer {FULL.key}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    received = b""
    while received.count(b"data: {") < 4:
        received += sock.recv(4096)
    sock.close()
    record = access_log_line(stack, request_id)
    assert (record["status"], record["error"]) == (499, "client_disconnected")
    assert record["tokens_estimated"] is True
    assert record["prompt_tokens"] == math.ceil(len(content) / 4)
    # What the gateway relayed: at least what the caller read, and not the whole answer.
    assert 4 <= record["completion_tokens"] <= 6


@pytest.mark.parametrize("api", ["chat", "messages"])
def test_a_stream_the_provider_broke_is_counted_and_said(stack: LocalStack, api: str) -> None:
    headers = {"x-api-key": FULL.key, "anthropic-version": "2023-06-01"}
    content = "Break. [[emulator:reset_after=3]]"
    if api == "chat":
        url, body = "/v1/chat/completions", chat_body("groq-llama", content, stream=True)
    else:
        url = "/v1/messages"
        body = {"model": "claude-sonnet", "max_tokens": 256, "stream": True,
                "messages": [{"role": "user", "content": content}]}  # fmt: skip
    with httpx.stream("POST", f"{stack.gateway_url}{url}", json=body, headers=headers,
                      timeout=30) as response:  # fmt: skip
        text = response.read().decode()
    assert response.status_code == 200
    assert "broke off before it finished" in text
    assert "litellm" not in text.lower()
    record = access_log_line(stack, response.headers["x-request-id"])
    assert (record["error"], record["tokens_estimated"]) == ("provider_stream_broken", True)
    assert record["completion_tokens"] >= 3


def test_a_caller_that_hangs_up_right_after_done_is_counted_from_the_usage(
    stack: LocalStack,
) -> None:
    """SDKs close the connection once they read `[DONE]`, which can come before the gateway
    has ended the response: the stream was whole, so its own usage counts, not an estimate."""
    for _ in range(5):
        request_id = f"done-{uuid.uuid4()}"
        body = orjson.dumps(chat_body("claude-sonnet", "Done, then gone!!!", stream=True))
        sock = socket.create_connection(("127.0.0.1", stack.ports.gateway), timeout=10)
        sock.sendall(
            f"POST /v1/chat/completions HTTP/1.1\r\nHost: gateway\r\nX-Request-Id: {request_id}"
            f"\r\nAuthorization: Bearer {FULL.key}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        received = b""
        while b"data: [DONE]" not in received:
            received += sock.recv(65536)
        sock.close()
        record = access_log_line(stack, request_id)
        assert record["tokens_estimated"] is False, record
        # The emulator's honest count of the prompt: 7 (an estimate would be 5).
        assert record["prompt_tokens"] == count_tokens("Done, then gone!!!")
        assert record["completion_tokens"] > 0
