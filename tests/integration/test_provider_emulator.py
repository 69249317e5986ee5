"""The provider emulator as a real process on 127.0.0.1, checked with the official SDKs.

The ``anthropic`` and ``openai`` SDKs parse answers into their typed models, so they are the
schema check; raw HTTP and raw sockets check what an SDK hides (status lines, headers, the
SSE event order, a real TCP reset, a stall, a client that hangs up).
"""

import http.client
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
ANTHROPIC_VERSION = "2023-06-01"
CLAUDE = "claude-sonnet-4-5"
LLAMA = "llama-3.3-70b-versatile"
ANTHROPIC_DELTA = b"event: content_block_delta"
OPENAI_CONTENT = b'"delta":{"content":'

# Recomputed here on purpose rather than imported: the emulator's documented token rule.
_TOKEN = re.compile(r"\w+|[^\w\s]")


def tokens(*texts: str) -> int:
    return sum(len(_TOKEN.findall(text)) for text in texts)


@dataclass(frozen=True)
class Emulator:
    port: int
    anthropic_key: str
    groq_key: str
    groq_second_key: str
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _start(log_path: Path, env_overrides: dict[str, str]) -> tuple[subprocess.Popen[bytes], int]:
    port = _free_port()
    env = {**os.environ, **env_overrides}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "provider_emulator", "--host", HOST, "--port", str(port)],
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"emulator exited early: {log_path.read_text()}")
        try:
            status, _, body = _request_at(port, "GET", "/healthz")
        except OSError:
            time.sleep(0.05)
            continue
        if status == 200 and body == {"status": "ok"}:
            return process, port
    _stop(process)
    pytest.fail("emulator did not answer /healthz within 15 s")


def _stop(process: subprocess.Popen[bytes]) -> int:
    process.terminate()
    try:
        return process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise


def _keys() -> dict[str, str]:
    return {
        "EMULATOR_ANTHROPIC_API_KEYS": f"sk-ant-test-{secrets.token_hex(8)}",
        # Two keys, with stray spaces, to prove the list is split and trimmed.
        "EMULATOR_GROQ_API_KEYS": (
            f" gsk_test_{secrets.token_hex(8)} , gsk_second_{secrets.token_hex(4)}"
        ),
    }


@contextmanager
def running_emulator(log_path: Path) -> Iterator[Emulator]:
    """An emulator process with fresh keys, stopped on leaving (other test modules too)."""
    keys = _keys()
    process, port = _start(log_path, keys)
    groq_keys = [key.strip() for key in keys["EMULATOR_GROQ_API_KEYS"].split(",")]
    try:
        yield Emulator(
            port=port,
            anthropic_key=keys["EMULATOR_ANTHROPIC_API_KEYS"],
            groq_key=groq_keys[0],
            groq_second_key=groq_keys[1],
            log_path=log_path,
        )
    finally:
        _stop(process)


def cleared(emu: Emulator) -> Emulator:
    """The shared process, with its request log and counters cleared for this test."""
    status, _, _ = _request_at(emu.port, "POST", "/_emulator/reset")
    assert status == 200
    return emu


@pytest.fixture(scope="module")
def emulator_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    with running_emulator(tmp_path_factory.mktemp("emulator") / "emulator.log") as emu:
        yield emu


@pytest.fixture
def emulator(emulator_process: Emulator) -> Emulator:
    return cleared(emulator_process)


def _request_at(
    port: int,
    method: str,
    path: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    raw_body: bytes | None = None,
) -> tuple[int, dict[str, str], Any]:
    conn = http.client.HTTPConnection(HOST, port, timeout=10)
    try:
        payload = raw_body if raw_body is not None else None
        if body is not None:
            payload = json.dumps(body).encode()
        conn.request(method, path, body=payload, headers=headers or {})
        response = conn.getresponse()
        data = response.read()
        return (
            response.status,
            {name.lower(): value for name, value in response.getheaders()},
            json.loads(data) if data else None,
        )
    finally:
        conn.close()


def call(
    emu: Emulator,
    method: str,
    path: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    raw_body: bytes | None = None,
) -> tuple[int, dict[str, str], Any]:
    return _request_at(emu.port, method, path, body, headers, raw_body)


def anthropic_headers(emu: Emulator, **extra: str) -> dict[str, str]:
    return {
        "x-api-key": emu.anthropic_key,
        "anthropic-version": ANTHROPIC_VERSION,
        "content-type": "application/json",
        **extra,
    }


def groq_headers(emu: Emulator, **extra: str) -> dict[str, str]:
    return {"authorization": f"Bearer {emu.groq_key}", "content-type": "application/json", **extra}


def claude_body(text: str, **extra: Any) -> dict[str, Any]:
    return {
        "model": CLAUDE,
        "max_tokens": 200,
        "messages": [{"role": "user", "content": text}],
        **extra,
    }


def llama_body(text: str, **extra: Any) -> dict[str, Any]:
    return {"model": LLAMA, "messages": [{"role": "user", "content": text}], **extra}


def stats(emu: Emulator) -> dict[str, int]:
    status, _, body = call(emu, "GET", "/_emulator/stats")
    assert status == 200
    return dict(body)


def request_log(emu: Emulator) -> list[dict[str, Any]]:
    status, _, body = call(emu, "GET", "/_emulator/requests")
    assert status == 200
    return list(body)


def wait_for(predicate: Any, what: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


class RawStream:
    """An HTTP/1.1 request on a bare socket: sees every byte and when it arrived, a RST as
    ConnectionResetError, a stall as a read timeout, and can hang up mid-answer."""

    def __init__(self, emu: Emulator, path: str, headers: dict[str, str], body: Any) -> None:
        payload = json.dumps(body).encode()
        head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        self.sock = socket.create_connection((HOST, emu.port), timeout=5)
        self.sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: {HOST}:{emu.port}\r\n{head}"
            f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n".encode()
            + payload
        )
        self.data = b""
        self.marker_times: list[float] = []

    def recv(self, marker: bytes) -> bytes:
        chunk = self.sock.recv(65536)
        now = time.monotonic()
        before = self.data.count(marker)
        self.data += chunk
        self.marker_times += [now] * (self.data.count(marker) - before)
        return chunk

    def read_markers(self, marker: bytes, count: int) -> None:
        while self.data.count(marker) < count:
            if not self.recv(marker):
                pytest.fail(f"connection closed after {self.data.count(marker)} of {count}")

    def read_to_end(self, marker: bytes) -> None:
        while self.recv(marker):
            pass

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> "RawStream":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def anthropic_client(emu: Emulator) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        base_url=emu.url, api_key=emu.anthropic_key, max_retries=0, timeout=10
    )


def groq_client(emu: Emulator, base: str = "/openai/v1") -> openai.OpenAI:
    return openai.OpenAI(base_url=emu.url + base, api_key=emu.groq_key, max_retries=0, timeout=10)


# --- Anthropic Messages API ----------------------------------------------------------------

SYSTEM = "You are terse, exact and kind."
HISTORY: list[Any] = [
    {"role": "user", "content": "First question, please?"},
    {"role": "assistant", "content": [{"type": "text", "text": "First answer."}]},
]
PROMPT = "Tell me: why is the sky blue at noon?"


def test_anthropic_message_matches_sdk_model_and_counts_tokens(emulator: Emulator) -> None:
    messages = [*HISTORY, {"role": "user", "content": [{"type": "text", "text": PROMPT}]}]
    raw = anthropic_client(emulator).messages.with_raw_response.create(
        model=CLAUDE, max_tokens=200, system=SYSTEM, messages=messages, temperature=0.2
    )
    assert raw.headers["request-id"].startswith("req_")
    message = raw.parse()

    assert isinstance(message, anthropic.types.Message)
    assert message.id.startswith("msg_")
    assert message.type == "message"
    assert message.role == "assistant"
    assert message.model == CLAUDE
    assert message.stop_reason == "end_turn"
    assert message.stop_sequence is None
    assert len(message.content) == 1
    block = message.content[0]
    assert isinstance(block, anthropic.types.TextBlock)
    assert block.text.startswith(f"Emulated reply from {CLAUDE}.")
    assert PROMPT in block.text
    assert message.usage.input_tokens == tokens(
        SYSTEM, "First question, please?", "First answer.", PROMPT
    )
    assert message.usage.output_tokens == tokens(block.text)
    assert message.usage.cache_creation_input_tokens == 0
    assert message.usage.cache_read_input_tokens == 0


def test_anthropic_stream_equals_non_streamed_answer(emulator: Emulator) -> None:
    client = anthropic_client(emulator)
    messages = [*HISTORY, {"role": "user", "content": PROMPT}]
    plain = client.messages.create(model=CLAUDE, max_tokens=200, system=SYSTEM, messages=messages)
    with client.messages.stream(
        model=CLAUDE, max_tokens=200, system=SYSTEM, messages=messages
    ) as stream:
        streamed_text = "".join(stream.text_stream)
        final = stream.get_final_message()

    assert isinstance(plain.content[0], anthropic.types.TextBlock)
    assert streamed_text == plain.content[0].text
    assert isinstance(final.content[0], anthropic.types.TextBlock)
    assert final.content[0].text == streamed_text
    assert final.stop_reason == plain.stop_reason == "end_turn"
    assert final.usage.input_tokens == plain.usage.input_tokens
    assert final.usage.output_tokens == plain.usage.output_tokens == tokens(streamed_text)


def test_anthropic_max_tokens_truncates_in_both_modes(emulator: Emulator) -> None:
    client = anthropic_client(emulator)
    messages: list[Any] = [{"role": "user", "content": PROMPT}]
    plain = client.messages.create(model=CLAUDE, max_tokens=4, messages=messages)
    with client.messages.stream(model=CLAUDE, max_tokens=4, messages=messages) as stream:
        final = stream.get_final_message()
    for message in (plain, final):
        block = message.content[0]
        assert isinstance(block, anthropic.types.TextBlock)
        assert message.stop_reason == "max_tokens"
        assert message.usage.output_tokens == 4 == tokens(block.text)
    assert [b.model_dump()["text"] for b in final.content] == [
        b.model_dump()["text"] for b in plain.content
    ]


def test_anthropic_sse_event_sequence(emulator: Emulator) -> None:
    with RawStream(
        emulator, "/v1/messages", anthropic_headers(emulator), claude_body("Hi", stream=True)
    ) as raw:
        raw.read_to_end(ANTHROPIC_DELTA)
    head, _, body = raw.data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert b"text/event-stream" in head.lower()
    # Undo the chunked transfer coding: drop the chunk-size lines.
    text = b"".join(re.split(rb"\r\n[0-9a-fA-F]+\r\n", b"\r\n" + body)).decode()
    events = re.findall(r"event: (\w+)\ndata: (.*)\n\n", text)
    names = [name for name, _ in events]
    deltas = names.count("content_block_delta")
    assert deltas > 5
    assert names == [
        "message_start",
        "content_block_start",
        "ping",
        *["content_block_delta"] * deltas,
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    payloads = [json.loads(data) for _, data in events]
    assert all(payload["type"] == name for (name, _), payload in zip(events, payloads, strict=True))
    start_usage = payloads[0]["message"]["usage"]
    assert start_usage["input_tokens"] == tokens("Hi")
    assert start_usage["output_tokens"] == 1
    pieces = [p["delta"]["text"] for p in payloads if p["type"] == "content_block_delta"]
    assert all(tokens(piece) == 1 for piece in pieces)
    assert payloads[-2]["usage"]["output_tokens"] == deltas


def test_anthropic_auth_and_version_errors(emulator: Emulator) -> None:
    body = claude_body("Hi")
    wanted_401 = {
        "type": "error",
        "error": {"type": "authentication_error", "message": "invalid x-api-key"},
    }
    for headers in (
        anthropic_headers(emulator, **{"x-api-key": "sk-ant-wrong"}),
        {"anthropic-version": ANTHROPIC_VERSION, "content-type": "application/json"},
        # The Groq key is not an Anthropic key.
        anthropic_headers(emulator, **{"x-api-key": emulator.groq_key}),
    ):
        status, _, answer = call(emulator, "POST", "/v1/messages", body, headers)
        assert status == 401
        assert {key: answer[key] for key in ("type", "error")} == wanted_401

    headers = anthropic_headers(emulator)
    del headers["anthropic-version"]
    status, _, answer = call(emulator, "POST", "/v1/messages", body, headers)
    assert status == 400
    assert answer["error"]["type"] == "invalid_request_error"
    assert "anthropic-version" in answer["error"]["message"]

    with pytest.raises(anthropic.AuthenticationError):
        anthropic.Anthropic(base_url=emulator.url, api_key="nope", max_retries=0).messages.create(
            model=CLAUDE, max_tokens=5, messages=[{"role": "user", "content": "Hi"}]
        )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"max_tokens": 5, "messages": [{"role": "user", "content": "Hi"}]}, "model"),
        ({"model": CLAUDE, "messages": [{"role": "user", "content": "Hi"}]}, "max_tokens"),
        (claude_body("Hi", max_tokens=0), "max_tokens"),
        (claude_body("Hi", max_tokens="5"), "max_tokens"),
        ({"model": CLAUDE, "max_tokens": 5, "messages": []}, "messages"),
        (
            {"model": CLAUDE, "max_tokens": 5, "messages": [{"role": "robot", "content": "Hi"}]},
            "messages.0.role",
        ),
        (
            {
                "model": CLAUDE,
                "max_tokens": 5,
                "messages": [{"role": "user", "content": [{"type": "image", "source": {}}]}],
            },
            "messages.0.content.0.type",
        ),
        (claude_body("Hi", system=42), "system"),
        (claude_body("Hi", stream="yes"), "stream"),
    ],
)
def test_anthropic_invalid_body_names_the_field(
    emulator: Emulator, body: dict[str, Any], field: str
) -> None:
    status, _, answer = call(emulator, "POST", "/v1/messages", body, anthropic_headers(emulator))
    assert status == 400
    assert answer["type"] == "error"
    assert answer["error"]["type"] == "invalid_request_error"
    assert answer["error"]["message"].startswith(f"{field}:")


def test_invalid_json_is_a_400(emulator: Emulator) -> None:
    status, _, answer = call(
        emulator, "POST", "/v1/messages", headers=anthropic_headers(emulator), raw_body=b"{nope"
    )
    assert status == 400
    assert "JSON" in answer["error"]["message"]


# --- Groq (OpenAI-compatible) chat completions ----------------------------------------------

OPENAI_MESSAGES: list[Any] = [
    {"role": "system", "content": SYSTEM},
    {"role": "user", "content": "First question, please?"},
    {"role": "assistant", "content": "First answer."},
    {"role": "user", "content": [{"type": "text", "text": PROMPT}]},
]
OPENAI_INPUT_TOKENS = tokens(SYSTEM, "First question, please?", "First answer.", PROMPT)


def test_groq_completion_matches_sdk_model_and_counts_tokens(emulator: Emulator) -> None:
    completion = groq_client(emulator).chat.completions.create(
        model=LLAMA, messages=OPENAI_MESSAGES, max_tokens=200, temperature=0.5, user="alice"
    )
    assert completion.id.startswith("chatcmpl-")
    assert completion.object == "chat.completion"
    assert completion.model == LLAMA
    assert abs(completion.created - time.time()) < 60
    assert completion.system_fingerprint
    # LiteLLM's Groq provider fails (as a "connection error") without service_tier.
    # (The SDK's Literal does not list Groq's tier, hence model_dump.)
    assert completion.model_dump()["service_tier"] == "on_demand"
    assert completion.model_extra is not None
    assert completion.model_extra["x_groq"]["id"].startswith("req_")
    choice = completion.choices[0]
    assert choice.message.role == "assistant"
    assert choice.finish_reason == "stop"
    text = choice.message.content
    assert text is not None
    assert text.startswith(f"Emulated reply from {LLAMA}.")
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == OPENAI_INPUT_TOKENS
    assert completion.usage.completion_tokens == tokens(text)
    assert completion.usage.total_tokens == OPENAI_INPUT_TOKENS + tokens(text)


@pytest.mark.parametrize("base", ["/openai/v1", "/v1"])
def test_groq_stream_equals_non_streamed_answer(emulator: Emulator, base: str) -> None:
    client = groq_client(emulator, base)
    plain = client.chat.completions.create(model=LLAMA, messages=OPENAI_MESSAGES)
    chunks = list(
        client.chat.completions.create(
            model=LLAMA,
            messages=OPENAI_MESSAGES,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert chunks[0].choices[0].delta.role == "assistant"
    assert all(chunk.object == "chat.completion.chunk" for chunk in chunks)
    assert all(chunk.model_dump()["service_tier"] == "on_demand" for chunk in chunks)
    assert len({chunk.id for chunk in chunks}) == 1
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == plain.choices[0].message.content

    finishing = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert len(finishing) == 1
    assert finishing[0].choices[0].finish_reason == "stop"
    assert finishing[0].model_extra is not None
    groq_usage = finishing[0].model_extra["x_groq"]["usage"]
    usage_chunk = chunks[-1]
    assert usage_chunk.choices == []
    assert usage_chunk.usage is not None
    assert plain.usage is not None
    assert usage_chunk.usage.model_dump(exclude_none=True) == plain.usage.model_dump(
        exclude_none=True
    )
    assert groq_usage == {
        "prompt_tokens": OPENAI_INPUT_TOKENS,
        "completion_tokens": tokens(text),
        "total_tokens": OPENAI_INPUT_TOKENS + tokens(text),
    }


def test_groq_stream_without_include_usage_has_no_usage_chunk(emulator: Emulator) -> None:
    chunks = list(
        groq_client(emulator).chat.completions.create(
            model=LLAMA, messages=[{"role": "user", "content": "Hi"}], stream=True
        )
    )
    assert all(chunk.choices for chunk in chunks)
    assert all(chunk.usage is None for chunk in chunks)
    assert chunks[-1].model_extra is not None
    assert chunks[-1].model_extra["x_groq"]["usage"]["prompt_tokens"] == 1


def test_groq_max_completion_tokens_truncates(emulator: Emulator) -> None:
    client = groq_client(emulator)
    messages: list[Any] = [{"role": "user", "content": PROMPT}]
    plain = client.chat.completions.create(model=LLAMA, messages=messages, max_tokens=3)
    newer = client.chat.completions.create(model=LLAMA, messages=messages, max_completion_tokens=3)
    for completion in (plain, newer):
        assert completion.choices[0].finish_reason == "length"
        assert completion.usage is not None
        assert completion.usage.completion_tokens == 3
        assert tokens(completion.choices[0].message.content or "") == 3


def test_groq_auth_errors(emulator: Emulator) -> None:
    wanted = {
        "message": "Invalid API Key",
        "type": "invalid_request_error",
        "code": "invalid_api_key",
    }
    for headers in (
        groq_headers(emulator, authorization="Bearer gsk_wrong"),
        {"content-type": "application/json"},
        groq_headers(emulator, authorization=emulator.groq_key),  # no "Bearer"
        groq_headers(emulator, authorization=f"Bearer {emulator.anthropic_key}"),
    ):
        status, _, answer = call(
            emulator, "POST", "/openai/v1/chat/completions", llama_body("Hi"), headers
        )
        assert status == 401
        assert {key: answer["error"][key] for key in wanted} == wanted

    # Every key in the comma-separated list is accepted, surrounding spaces ignored.
    status, _, _ = call(
        emulator,
        "POST",
        "/openai/v1/chat/completions",
        llama_body("Hi"),
        groq_headers(emulator, authorization=f"Bearer {emulator.groq_second_key}"),
    )
    assert status == 200
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(
            base_url=f"{emulator.url}/openai/v1", api_key="nope", max_retries=0
        ).chat.completions.create(model=LLAMA, messages=[{"role": "user", "content": "Hi"}])


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"messages": [{"role": "user", "content": "Hi"}]}, "model"),
        ({"model": LLAMA}, "messages"),
        ({"model": LLAMA, "messages": [{"role": "function", "content": "x"}]}, "messages.0.role"),
        (
            {"model": LLAMA, "messages": [{"role": "tool", "content": "x"}]},
            "messages.0.tool_call_id",
        ),
        ({"model": LLAMA, "messages": [{"role": "user", "content": 5}]}, "messages.0.content"),
        (llama_body("Hi", max_tokens=0), "max_tokens"),
        (llama_body("Hi", n=2), "n"),
        (llama_body("Hi", temperature=3), "temperature"),
    ],
)
def test_groq_invalid_body_names_the_field(
    emulator: Emulator, body: dict[str, Any], field: str
) -> None:
    status, _, answer = call(
        emulator, "POST", "/openai/v1/chat/completions", body, groq_headers(emulator)
    )
    assert status == 400
    assert answer["error"]["type"] == "invalid_request_error"
    assert answer["error"]["param"] == field
    assert answer["error"]["message"].startswith(f"{field}:")


def test_unknown_fields_are_accepted(emulator: Emulator) -> None:
    status, _, _ = call(
        emulator,
        "POST",
        "/openai/v1/chat/completions",
        llama_body("Hi", seed=1, frobnicate={"x": 1}),
        groq_headers(emulator),
    )
    assert status == 200
    status, _, _ = call(
        emulator,
        "POST",
        "/v1/messages",
        claude_body("Hi", metadata={"user_id": "u1"}, top_k=3, stop_sequences=["END"]),
        anthropic_headers(emulator),
    )
    assert status == 200


# --- Faults ----------------------------------------------------------------------------------


def test_status_faults_in_anthropic_shape(emulator: Emulator) -> None:
    headers = anthropic_headers(emulator)
    status, answer_headers, answer = call(
        emulator, "POST", "/v1/messages", claude_body("Hi [[emulator:status=429]]"), headers
    )
    assert status == 429
    assert answer_headers["retry-after"] == "1"
    assert answer["error"]["type"] == "rate_limit_error"
    assert "emulated" in answer["error"]["message"]

    status, answer_headers, answer = call(
        emulator,
        "POST",
        "/v1/messages",
        claude_body("Hi", stream=True),
        {**headers, "x-emulator-fault": "status=429, retry_after=7"},
    )
    assert status == 429
    assert answer_headers["retry-after"] == "7"

    status, _, answer = call(
        emulator, "POST", "/v1/messages", claude_body("Hi [[emulator:status=500]]"), headers
    )
    assert (status, answer["error"]["type"]) == (500, "api_error")
    assert "emulated" in answer["error"]["message"]

    status, _, answer = call(
        emulator, "POST", "/v1/messages", claude_body("Hi [[emulator:status=418]]"), headers
    )
    assert status == 418
    assert "emulated" in answer["error"]["message"]

    with pytest.raises(anthropic.OverloadedError) as overloaded:
        anthropic_client(emulator).messages.create(
            model=CLAUDE,
            max_tokens=5,
            messages=[{"role": "user", "content": "[[emulator:status=529]]"}],
        )
    assert overloaded.value.status_code == 529
    assert isinstance(overloaded.value.body, dict)
    assert overloaded.value.body["type"] == "error"
    assert overloaded.value.body["error"]["type"] == "overloaded_error"
    assert overloaded.value.body["error"]["message"].startswith("Overloaded")


def test_status_faults_in_openai_shape(emulator: Emulator) -> None:
    headers = groq_headers(emulator)
    path = "/openai/v1/chat/completions"
    status, answer_headers, answer = call(
        emulator, "POST", path, llama_body("Hi [[emulator:status=429,retry_after=3]]"), headers
    )
    assert status == 429
    assert answer_headers["retry-after"] == "3"
    assert answer["error"]["code"] == "rate_limit_exceeded"
    assert "emulated" in answer["error"]["message"]

    with pytest.raises(openai.InternalServerError) as server_error:
        groq_client(emulator).chat.completions.create(
            model=LLAMA, messages=[{"role": "user", "content": "x [[emulator:status=500]]"}]
        )
    assert server_error.value.status_code == 500
    assert "emulated" in server_error.value.message

    status, _, answer = call(emulator, "POST", path, llama_body("[[emulator:status=503]]"), headers)
    assert status == 503
    assert "emulated" in answer["error"]["message"]


def test_only_the_last_user_message_carries_faults(emulator: Emulator) -> None:
    body = {
        "model": CLAUDE,
        "max_tokens": 50,
        "messages": [
            {"role": "user", "content": "[[emulator:status=500]]"},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": "Hi [[emulator:latency_ms=1]]"},
        ],
    }
    status, _, answer = call(emulator, "POST", "/v1/messages", body, anthropic_headers(emulator))
    assert status == 200
    text = answer["content"][0]["text"]
    assert "emulator" not in text  # markers are no part of the answer
    # ... but they are input text, counted like any other.
    assert answer["usage"]["input_tokens"] == tokens(
        "[[emulator:status=500]]", "ok", "Hi [[emulator:latency_ms=1]]"
    )
    assert answer["usage"]["output_tokens"] == tokens(text)
    assert request_log(emulator)[-1]["fault"] == {"latency_ms": 1}


@pytest.mark.parametrize(
    ("fault", "problem"),
    [
        ("bogus=1", "bogus"),
        ("status=abc", "status"),
        ("status=200", "status"),
        ("latency_ms=-5", "latency_ms"),
        ("status", "key=value"),
        ("status=500,status=429", "twice"),
        ("stall_after=1,reset_after=1", "exclude"),
        ("stall_s=5", "stall_after"),
        ("retry_after=5", "status"),
        ("status=429,chunk_delay_ms=5", "status"),
        ("reset_after=1000", "exceeds"),
    ],
)
def test_bad_fault_directives_are_loud(emulator: Emulator, fault: str, problem: str) -> None:
    status, _, answer = call(
        emulator,
        "POST",
        "/v1/messages",
        claude_body(f"Hi [[emulator:{fault}]]", stream=True),
        anthropic_headers(emulator),
    )
    assert status == 400
    assert answer["error"]["type"] == "invalid_request_error"
    assert problem in answer["error"]["message"]
    assert "emulator" in answer["error"]["message"]

    status, _, answer = call(
        emulator,
        "POST",
        "/openai/v1/chat/completions",
        llama_body("Hi", stream=True),
        groq_headers(emulator, **{"x-emulator-fault": fault}),
    )
    assert status == 400
    assert problem in answer["error"]["message"]


def test_stream_faults_on_a_non_streaming_request_are_refused(emulator: Emulator) -> None:
    status, _, answer = call(
        emulator,
        "POST",
        "/v1/messages",
        claude_body("Hi [[emulator:reset_after=2]]"),
        anthropic_headers(emulator),
    )
    assert status == 400
    assert "streaming requests only" in answer["error"]["message"]


def test_latency_fault_delays_the_answer(emulator: Emulator) -> None:
    started = time.monotonic()
    status, _, _ = call(
        emulator,
        "POST",
        "/openai/v1/chat/completions",
        llama_body("Hi [[emulator:latency_ms=400]]"),
        groq_headers(emulator),
    )
    assert status == 200
    assert time.monotonic() - started >= 0.4

    started = time.monotonic()
    status, _, _ = call(
        emulator,
        "POST",
        "/v1/messages",
        claude_body("Hi"),
        anthropic_headers(emulator, **{"x-emulator-fault": "latency_ms=300,status=500"}),
    )
    assert status == 500
    assert time.monotonic() - started >= 0.3


def test_chunk_delay_spaces_the_chunks(emulator: Emulator) -> None:
    with RawStream(
        emulator,
        "/openai/v1/chat/completions",
        groq_headers(emulator),
        llama_body("Hi [[emulator:chunk_delay_ms=120]]", stream=True, max_tokens=4),
    ) as raw:
        raw.read_to_end(OPENAI_CONTENT)
    assert len(raw.marker_times) == 4
    gaps = [
        later - earlier
        for earlier, later in zip(raw.marker_times, raw.marker_times[1:], strict=False)
    ]
    assert all(gap >= 0.1 for gap in gaps), gaps
    assert b"data: [DONE]" in raw.data


def test_stall_after_holds_then_closes_without_finishing(emulator: Emulator) -> None:
    with RawStream(
        emulator,
        "/v1/messages",
        anthropic_headers(emulator),
        claude_body("Hi [[emulator:stall_after=3,stall_s=1.5]]", stream=True),
    ) as raw:
        raw.read_markers(ANTHROPIC_DELTA, 3)
        stalled_at = time.monotonic()
        raw.sock.settimeout(0.4)
        with pytest.raises(TimeoutError):
            raw.recv(ANTHROPIC_DELTA)
        assert stats(emulator)["open_streams"] == 1
        assert request_log(emulator)[-1]["stalled"] is True
        raw.sock.settimeout(5)
        raw.read_to_end(ANTHROPIC_DELTA)  # the emulator gives up after stall_s and closes
        assert time.monotonic() - stalled_at >= 1.3
    assert raw.data.count(ANTHROPIC_DELTA) == 3
    assert b"message_stop" not in raw.data
    wait_for(lambda: stats(emulator)["open_streams"] == 0, "the stalled stream to end")
    assert stats(emulator)["client_disconnects"] == 0


def test_reset_after_sends_a_tcp_reset(emulator: Emulator) -> None:
    with (
        RawStream(
            emulator,
            "/v1/messages",
            anthropic_headers(emulator),
            claude_body("Hi [[emulator:reset_after=2]]", stream=True),
        ) as raw,
        pytest.raises(ConnectionResetError),
    ):
        raw.read_to_end(ANTHROPIC_DELTA)
    assert raw.data.count(ANTHROPIC_DELTA) == 2
    assert b"message_stop" not in raw.data
    counters = stats(emulator)
    assert counters["resets_sent"] == 1
    assert counters["client_disconnects"] == 0  # our own reset is not the client leaving
    assert request_log(emulator)[-1]["reset_sent"] is True


def test_reset_after_reaches_the_openai_sdk_as_an_error(emulator: Emulator) -> None:
    stream = groq_client(emulator).chat.completions.create(
        model=LLAMA,
        messages=[{"role": "user", "content": "Hi [[emulator:reset_after=3]]"}],
        stream=True,
    )
    texts: list[str] = []

    def read_all() -> None:
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                texts.append(chunk.choices[0].delta.content)

    with pytest.raises((httpx.HTTPError, openai.APIError)):
        read_all()
    assert len(texts) == 3


def test_client_disconnect_mid_stream_is_counted(emulator: Emulator) -> None:
    with RawStream(
        emulator,
        "/v1/messages",
        anthropic_headers(emulator),
        claude_body("Hi [[emulator:chunk_delay_ms=100]]", stream=True),
    ) as raw:
        raw.read_markers(ANTHROPIC_DELTA, 2)
        assert stats(emulator)["open_streams"] == 1
    wait_for(lambda: stats(emulator)["client_disconnects"] == 1, "the disconnect to be counted")
    counters = stats(emulator)
    assert counters["open_streams"] == 0
    assert counters["in_flight"] == 0
    assert request_log(emulator)[-1]["disconnected"] is True


def test_client_disconnect_while_waiting_is_counted(emulator: Emulator) -> None:
    # A proxy that gives up on a slow non-streaming call: the emulator must notice too.
    with RawStream(
        emulator,
        "/openai/v1/chat/completions",
        groq_headers(emulator),
        llama_body("Hi [[emulator:latency_ms=5000]]"),
    ):
        wait_for(lambda: stats(emulator)["in_flight"] == 1, "the request to arrive")
    wait_for(lambda: stats(emulator)["client_disconnects"] == 1, "the disconnect to be counted")
    assert stats(emulator)["in_flight"] == 0
    assert request_log(emulator)[-1]["disconnected"] is True


# --- Control and observation endpoints -------------------------------------------------------


def test_request_log_records_shape_but_never_keys(emulator: Emulator) -> None:
    client = anthropic_client(emulator)
    client.messages.create(
        model=CLAUDE,
        max_tokens=5,
        messages=[{"role": "user", "content": "Hi"}],
        metadata={"user_id": "user-42"},
        extra_headers={"x-request-id": "trace-1"},
    )
    list(
        groq_client(emulator).chat.completions.create(
            model=LLAMA,
            messages=[{"role": "user", "content": "Hi [[emulator:latency_ms=1]]"}],
            user="bob",
            stream=True,
        )
    )
    call(emulator, "POST", "/v1/messages", claude_body("Hi"), {"x-api-key": "sk-ant-leaky"})

    status, _, _ = call(emulator, "GET", "/_emulator/requests")
    assert status == 200
    conn = http.client.HTTPConnection(HOST, emulator.port, timeout=5)
    conn.request("GET", "/_emulator/requests")
    raw_log = conn.getresponse().read().decode()
    conn.close()
    for secret in (emulator.anthropic_key, emulator.groq_key, "sk-ant-leaky"):
        assert secret not in raw_log

    claude, llama, rejected = request_log(emulator)
    assert claude["api"] == "anthropic"
    assert claude["path"] == "/v1/messages"
    assert claude["model"] == CLAUDE
    assert claude["stream"] is False
    assert claude["status"] == 200
    assert claude["fault"] == {}
    assert claude["body_keys"] == ["max_tokens", "messages", "metadata", "model"]
    assert claude["metadata"] == {"user_id": "user-42"}
    assert "x-api-key" in claude["headers"]
    assert claude["header_values"]["anthropic-version"] == ANTHROPIC_VERSION
    assert claude["header_values"]["x-request-id"] == "trace-1"
    assert "user-agent" in claude["header_values"]
    assert set(claude["header_values"]) <= {"anthropic-version", "x-request-id", "user-agent"}
    assert claude["disconnected"] is False
    assert isinstance(claude["time"], float)

    assert llama["api"] == "openai"
    assert llama["stream"] is True
    assert llama["user"] == "bob"
    assert llama["fault"] == {"latency_ms": 1}
    assert "authorization" in llama["headers"]
    assert rejected["status"] == 401
    assert len({claude["id"], llama["id"], rejected["id"]}) == 3

    counters = stats(emulator)
    assert counters["requests"] == 3
    status, _, _ = call(emulator, "POST", "/_emulator/reset")
    assert status == 200
    assert request_log(emulator) == []
    assert stats(emulator) == {
        "requests": 0,
        "in_flight": 0,
        "open_streams": 0,
        "client_disconnects": 0,
        "resets_sent": 0,
    }


def test_same_request_same_answer(emulator: Emulator) -> None:
    body = claude_body("Deterministic, please.")
    answers = [
        call(emulator, "POST", "/v1/messages", body, anthropic_headers(emulator))[2]
        for _ in range(2)
    ]
    assert answers[0]["id"] != answers[1]["id"]
    assert answers[0]["content"] == answers[1]["content"]
    assert answers[0]["usage"] == answers[1]["usage"]


def test_access_log_has_one_line_per_request_and_no_secrets(emulator: Emulator) -> None:
    call(
        emulator,
        "POST",
        "/v1/messages",
        claude_body("secret prompt text"),
        anthropic_headers(emulator),
    )
    call(emulator, "GET", "/_emulator/stats")
    wait_for(
        lambda: "GET /_emulator/stats 200" in emulator.log_path.read_text(), "the access log line"
    )
    log = emulator.log_path.read_text()
    assert re.search(r"POST /v1/messages 200 \d+\.\dms", log)
    for secret in (emulator.anthropic_key, emulator.groq_key, "secret prompt text"):
        assert secret not in log
    assert "Traceback" not in log


# --- Process behaviour -----------------------------------------------------------------------


@pytest.mark.parametrize("missing", ["EMULATOR_ANTHROPIC_API_KEYS", "EMULATOR_GROQ_API_KEYS"])
def test_refuses_to_start_without_keys(missing: str) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("EMULATOR_")}
    env.update(_keys())
    del env[missing]
    result = subprocess.run(
        [sys.executable, "-m", "provider_emulator", "--port", str(_free_port())],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=15,
        check=False,
    )
    assert result.returncode != 0
    assert missing in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_sigterm_stops_promptly_with_a_stream_stalled(tmp_path: Path) -> None:
    keys = _keys()
    log_path = tmp_path / "emulator.log"
    process, port = _start(log_path, keys)
    emu = Emulator(port, keys["EMULATOR_ANTHROPIC_API_KEYS"], "", "", log_path)
    try:
        with RawStream(
            emu,
            "/v1/messages",
            anthropic_headers(emu),
            claude_body("[[emulator:stall_after=1]]", stream=True),
        ) as raw:
            raw.read_markers(ANTHROPIC_DELTA, 1)
            started = time.monotonic()
            returncode = _stop(process)
            assert time.monotonic() - started < 4
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert returncode == 0
    assert "Traceback" not in log_path.read_text()
