"""Every row of the documented capture table, proved against the real LiteLLM proxy.

LiteLLM 1.110.2's `langfuse` callback sends OpenTelemetry spans to Langfuse's OTLP
endpoint; the local receiver keeps them exactly as a Langfuse server would receive them.
Each test uses its own session id, so tests never see each other's spans.
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Any

import pytest
from provider_emulator.tokens import count_tokens

from devstack.langfuse_receiver import ReceiverClient
from devstack.stack import LocalStack
from tests.integration.litellm_calls import PRICE, PROVIDER_MODEL, chat, new_session_id

pytestmark = pytest.mark.integration

Span = dict[str, Any]
MODELS = list(PROVIDER_MODEL)


@pytest.fixture(scope="module")
def receiver(stack: LocalStack) -> ReceiverClient:
    return ReceiverClient(stack.receiver_url)


def spans_of(receiver: ReceiverClient, session_id: str, count: int = 1) -> list[Span]:
    """Wait for the callback's spans of one session (it flushes about once a second)."""
    return receiver.wait_for_spans(
        attribute="session.id", value=session_id, min_count=count, timeout=30
    )


def attribute(span: Span, name: str) -> Any:
    """A span attribute; the callback JSON-encodes structured values as strings."""
    value = span["attributes"][name]
    if isinstance(value, str) and value[:1] in '{["':
        return json.loads(value)
    return value


def test_trace_is_recorded_with_its_timing(stack: LocalStack, receiver: ReceiverClient) -> None:
    session = new_session_id()
    completion = chat(
        stack,
        "claude-sonnet",
        "Hello, what is a trace?",
        metadata={
            "session_id": session,
            "trace_name": "capture-trace-test",
        },
    )
    assert completion.status == 200, completion.body

    (span,) = spans_of(receiver, session)
    assert len(span["trace_id"]) == 32
    assert attribute(span, "langfuse.trace.name") == "capture-trace-test"
    start, end = span["start_time_unix_nano"], span["end_time_unix_nano"]
    # The span lies inside the caller's own window (same clock, same machine).
    assert completion.started_ns <= start < end <= completion.finished_ns


def test_generation_has_model_input_output_and_parameters(
    stack: LocalStack, receiver: ReceiverClient
) -> None:
    session = new_session_id()
    prompt = "Name three colours of the rainbow."
    completion = chat(
        stack,
        "groq-llama",
        prompt,
        metadata={"session_id": session},
        temperature=0.3,
        max_tokens=64,
    )
    assert completion.status == 200, completion.body

    (span,) = spans_of(receiver, session)
    assert attribute(span, "langfuse.observation.type") == "generation"
    assert attribute(span, "langfuse.observation.model.name") == "groq/llama-3.3-70b-versatile"
    assert attribute(span, "langfuse.observation.input") == {
        "messages": [{"role": "user", "content": prompt}]
    }
    assert attribute(span, "langfuse.observation.output")["content"] == completion.text
    parameters = attribute(span, "langfuse.observation.model.parameters")
    assert parameters["temperature"] == 0.3
    assert parameters["max_tokens"] == 64


@pytest.mark.parametrize("stream", [False, True], ids=["non-streaming", "streaming"])
@pytest.mark.parametrize("model", MODELS)
def test_token_usage_is_recorded(
    stack: LocalStack, receiver: ReceiverClient, model: str, stream: bool
) -> None:
    session = new_session_id()
    prompt = "Count the tokens of this prompt, please."
    completion = chat(stack, model, prompt, stream=stream, metadata={"session_id": session})
    assert completion.status == 200, completion.body
    usage = completion.usage
    # The emulator counts honestly: its usage is the token count of the text it sent.
    assert usage["completion_tokens"] == count_tokens(completion.text)
    assert usage["prompt_tokens"] == count_tokens(prompt)

    (span,) = spans_of(receiver, session)
    recorded = attribute(span, "langfuse.observation.usage_details")
    assert recorded["input"] == usage["prompt_tokens"]
    assert recorded["output"] == usage["completion_tokens"]
    assert recorded["total"] == usage["prompt_tokens"] + usage["completion_tokens"]


def _iso_to_ns(value: str) -> int:
    return int(datetime.fromisoformat(value).timestamp() * 1e9)


def test_latency_and_time_to_first_token_are_recorded(
    stack: LocalStack, receiver: ReceiverClient
) -> None:
    """The provider waits 400 ms before answering, then 30 ms between chunks."""
    session = new_session_id()
    first_token_delay_s, chunk_delay_s = 0.4, 0.03
    completion = chat(
        stack,
        "claude-sonnet",
        "Stream slowly. [[emulator:latency_ms=400,chunk_delay_ms=30]]",
        stream=True,
        metadata={"session_id": session},
    )
    assert completion.status == 200, completion.body
    content_chunks = sum(
        1
        for chunk in completion.chunks
        for choice in chunk.get("choices", [])
        if (choice.get("delta") or {}).get("content")
    )
    assert content_chunks > 5

    (span,) = spans_of(receiver, session)
    start, end = span["start_time_unix_nano"], span["end_time_unix_nano"]
    first_token = _iso_to_ns(attribute(span, "langfuse.observation.completion_start_time"))
    # Lower bounds set by the emulator's own delays; this checks what is recorded, not speed.
    assert first_token - start >= first_token_delay_s * 1e9
    assert end - first_token >= (content_chunks - 1) * chunk_delay_s * 1e9 * 0.8
    assert start < first_token < end


@pytest.mark.parametrize("model", MODELS)
def test_cost_is_tokens_times_configured_prices(
    stack: LocalStack, receiver: ReceiverClient, model: str
) -> None:
    session = new_session_id()
    completion = chat(stack, model, "What does this cost?", metadata={"session_id": session})
    assert completion.status == 200, completion.body

    (span,) = spans_of(receiver, session)
    usage = attribute(span, "langfuse.observation.usage_details")
    input_price, output_price = PRICE[model]
    expected = usage["input"] * input_price + usage["output"] * output_price
    cost = attribute(span, "langfuse.observation.cost_details")["total"]
    assert cost > 0
    assert cost == pytest.approx(expected, rel=1e-9)


def test_calls_of_one_session_share_a_trace(stack: LocalStack, receiver: ReceiverClient) -> None:
    session, other_session = new_session_id(), new_session_id()
    for content in ("First turn.", "Second turn."):
        completion = chat(
            stack,
            "claude-sonnet",
            content,
            metadata={"session_id": session, "trace_user_id": "user-42"},
        )
        assert completion.status == 200, completion.body
    assert (
        chat(
            stack, "claude-sonnet", "Another conversation.", metadata={"session_id": other_session}
        ).status
        == 200
    )

    first, second = spans_of(receiver, session, count=2)
    (other,) = spans_of(receiver, other_session)
    assert first["trace_id"] == second["trace_id"]
    assert first["span_id"] != second["span_id"]
    assert other["trace_id"] != first["trace_id"]
    assert {attribute(s, "user.id") for s in (first, second)} == {"user-42"}


@pytest.mark.parametrize(
    ("status", "provider_message"),
    [(500, "emulated internal server error"), (429, "emulated rate limit")],
    ids=["upstream-500", "upstream-429"],
)
def test_upstream_errors_leave_an_error_observation(
    stack: LocalStack, receiver: ReceiverClient, status: int, provider_message: str
) -> None:
    session = new_session_id()
    completion = chat(
        stack,
        "claude-sonnet",
        f"Fail please. [[emulator:status={status}]]",
        metadata={"session_id": session},
    )
    assert completion.status == status, completion.body

    (span,) = spans_of(receiver, session)
    assert attribute(span, "langfuse.observation.level") == "ERROR"
    assert provider_message in attribute(span, "langfuse.observation.status_message")


def test_no_credential_reaches_langfuse(stack: LocalStack, receiver: ReceiverClient) -> None:
    session = new_session_id()
    assert (
        chat(stack, "groq-llama", "Keep my keys safe.", metadata={"session_id": session}).status
        == 200
    )
    spans_of(receiver, session)
    everything = json.dumps(receiver.spans())
    for name, value in (
        ("LiteLLM master key", stack.secrets.litellm_master_key),
        ("Anthropic key", stack.secrets.anthropic_api_key),
        ("Groq key", stack.secrets.groq_api_key),
        ("Langfuse secret key", stack.secrets.langfuse_secret_key),
    ):
        assert value not in everything, f"the {name} was sent to Langfuse"


@pytest.mark.parametrize("outage_s", [3.0, 10.0], ids=["outage-3s", "outage-10s"])
def test_completions_succeed_while_langfuse_is_unreachable(
    stack: LocalStack, receiver: ReceiverClient, record_property: Any, outage_s: float
) -> None:
    """Langfuse down (port closed): callers notice nothing; count the spans lost.

    LiteLLM's exporter retries a failed export three times (1, 2, 4 s back-off), so a
    short outage loses nothing and a longer one loses what was sent early in it.
    """
    session = new_session_id()
    langfuse = stack.processes["langfuse-receiver"]
    requests = 6
    langfuse.stop()
    outage_started = time.monotonic()
    try:
        statuses = [
            chat(
                stack,
                MODELS[i % 2],
                f"Call {i} while Langfuse is down.",
                metadata={"session_id": session},
            ).status
            for i in range(requests)
        ]
        time.sleep(max(0.0, outage_s - (time.monotonic() - outage_started)))
    finally:
        langfuse.start(ready_timeout=20)
    outage_s = time.monotonic() - outage_started
    assert statuses == [200] * requests

    # LiteLLM's exporter retries three times with 1, 2 and 4 s back-off: give it all of that.
    time.sleep(8)
    delivered = len(receiver.spans(attribute="session.id", value=session))
    lost = requests - delivered
    record_property("langfuse_outage_s", round(outage_s, 1))
    record_property("spans_lost", lost)
    print(
        f"Langfuse unreachable for {outage_s:.1f} s: {requests} completions succeeded, "
        f"{delivered} spans delivered after it came back, {lost} lost"
    )
    assert delivered <= requests, "a span was delivered twice"

    # And tracing recovers on its own once Langfuse is back.
    after = new_session_id()
    assert chat(stack, "claude-sonnet", "Back again.", metadata={"session_id": after}).status == 200
    spans_of(receiver, after)
