"""Every row of the documented capture table, proved against the real LiteLLM proxy.

LiteLLM 1.110.2's `langfuse` callback sends OpenTelemetry spans to Langfuse's OTLP
endpoint; the local receiver keeps them exactly as a Langfuse server would receive them.
Each test uses its own session id, so tests never see each other's spans. The trace tests
call through the gateway, which sets the trace metadata; what Langfuse 3.224.1 makes of a
span is transcribed in `langfuse_trace` (README.md, "What Langfuse captures").
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest
from provider_emulator.tokens import count_tokens

from devstack.langfuse_receiver import ReceiverClient
from devstack.processes import free_port
from devstack.stack import LocalStack
from devstack.venvs import ensure_litellm_venv
from tests.integration.conftest import CLIENTS
from tests.integration.gateway_calls import auth, chat_body
from tests.integration.litellm_calls import PRICE, PROVIDER_MODEL, chat, new_session_id

pytestmark = pytest.mark.integration

Span = dict[str, Any]
MODELS = list(PROVIDER_MODEL)
FULL = CLIENTS["full"]


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


def langfuse_trace(span: Span) -> dict[str, Any]:
    """The trace Langfuse 3.224.1 makes of one span: a transcription of the rules this platform
    relies on, from packages/shared/src/server/otel/OtelIngestionProcessor.ts (processSpan,
    createTraceEvent, extractEnvironment, extractSessionId, extractUserId, extractMetadata),
    for spans of the `langfuse-sdk` scope on the default (legacy) write path.

    A span without a parent (or with `langfuse.internal.as_root`) is the trace's root, and the
    trace's metadata then takes the observation's metadata too; any other span with trace
    attributes updates the trace from the `langfuse.trace.*` attributes alone."""
    attributes, resource = span["attributes"], span["resource_attributes"]
    root = span["parent_span_id"] is None or str(attributes.get("langfuse.internal.as_root")) == (
        "true"
    )

    def prefixed(prefix: str) -> dict[str, Any]:
        return {k.removeprefix(prefix): v for k, v in attributes.items() if k.startswith(prefix)}

    metadata = prefixed("langfuse.trace.metadata.")
    if root:
        metadata |= prefixed("langfuse.observation.metadata.")
    metadata |= {"resourceAttributes": resource, "scope": span["scope"]}
    environment = next(
        (where[key] for key in ("langfuse.environment", "deployment.environment.name",
                                "deployment.environment")
         for where in (attributes, resource) if where.get(key)),
        "default",
    )  # fmt: skip
    return {
        "id": span["trace_id"],
        "name": attributes.get("langfuse.trace.name"),
        "sessionId": attributes.get("langfuse.session.id") or attributes.get("session.id"),
        "userId": attributes.get("langfuse.user.id") or attributes.get("user.id"),
        "environment": environment,
        "release": attributes.get("langfuse.release") or resource.get("langfuse.release"),
        "metadata": metadata,
    }


def gateway_call(gateway_url: str, content: str, session: str, model: str = "claude-sonnet",
                 **headers: str) -> httpx.Response:  # fmt: skip
    return httpx.post(
        f"{gateway_url}/v1/chat/completions", json=chat_body(model, content), timeout=60,
        headers={**auth(FULL), "X-Session-Id": session, "X-User-Id": "user-42", **headers},
    )  # fmt: skip


def test_each_call_of_a_session_is_its_own_trace_in_that_session(
    stack: LocalStack, receiver: ReceiverClient
) -> None:
    """Langfuse's model: a session of traces, one trace per request. Before, LiteLLM made the
    session id the trace id: all calls of a session were one trace, whose input, output and
    metadata the last call overwrote."""
    session, other_session = new_session_id(), new_session_id()
    for content in ("First turn.", "Second turn."):
        assert gateway_call(stack.gateway_url, content, session).status_code == 200
    assert (
        gateway_call(stack.gateway_url, "Another conversation.", other_session).status_code == 200
    )

    first, second = spans_of(receiver, session, count=2)
    (other,) = spans_of(receiver, other_session)
    assert len({first["trace_id"], second["trace_id"], other["trace_id"]}) == 3
    traces = [langfuse_trace(span) for span in (first, second, other)]
    assert [trace["sessionId"] for trace in traces] == [session, session, other_session]
    assert {trace["userId"] for trace in traces} == {"user-42"}
    assert {trace["name"] for trace in traces} == {"gateway/test-full"}


def test_trace_metadata_is_what_a_reader_needs_not_headers(
    stack: LocalStack, receiver: ReceiverClient
) -> None:
    session = new_session_id()
    response = gateway_call(stack.gateway_url, "What goes in the trace?", session)
    assert response.status_code == 200
    (span,) = spans_of(receiver, session)
    # The generation hangs under an observation nothing exports: the trace takes its
    # metadata from langfuse.trace.* alone.
    assert span["parent_span_id"] == span["trace_id"][:16]
    metadata = langfuse_trace(span)["metadata"]
    assert metadata == {
        "client": "test-full", "request_id": response.headers["x-request-id"],
        "model": "claude-sonnet", "api": "chat.completions",
        "resourceAttributes": span["resource_attributes"], "scope": span["scope"],
    }  # fmt: skip
    # LiteLLM's observation metadata (the request's headers, the provider's response
    # headers) stays on the generation, where it was before too.
    assert "requester_metadata" in json.dumps(span["attributes"])
    assert "headers" not in json.dumps(metadata)


@pytest.fixture(scope="module")
def released_gateway(stack: LocalStack) -> Iterator[str]:
    """A second LiteLLM with the Langfuse environment and release its chart sets
    (deploy/charts/platform/templates/litellm/deployment.yaml), and a gateway in front."""
    port = free_port()
    released = dataclasses.replace(
        stack, ports=dataclasses.replace(stack.ports, litellm=port), litellm_argv_prefix=(),
        litellm_extra_env={"LANGFUSE_TRACING_ENVIRONMENT": "ci", "LANGFUSE_RELEASE": RELEASE},
    )  # fmt: skip
    litellm = dataclasses.replace(
        released.litellm_process(ensure_litellm_venv()), name="litellm-released",
        log_path=stack.run_dir / "litellm-released.log",
    )  # fmt: skip
    gateway, gateway_port = stack.spare_gateway_process(
        "gateway-released", GATEWAY_LITELLM_URL=f"http://127.0.0.1:{port}"
    )
    litellm.start(ready_timeout=90)
    try:
        gateway.start(ready_timeout=20)
        try:
            yield f"http://127.0.0.1:{gateway_port}"
        finally:
            gateway.stop()
    finally:
        litellm.stop()


RELEASE = "sha256:" + "0123456789abcdef" * 4


def test_traces_carry_the_environment_and_the_release(
    released_gateway: str, receiver: ReceiverClient
) -> None:
    """Before, every trace said environment `default` and no release."""
    session = new_session_id()
    assert gateway_call(released_gateway, "Which release am I?", session).status_code == 200
    (span,) = spans_of(receiver, session)
    assert span["resource_attributes"] == {
        "langfuse.environment": "ci",
        "langfuse.release": RELEASE,
    }
    trace = langfuse_trace(span)
    assert (trace["environment"], trace["release"]) == ("ci", RELEASE)


def test_a_retried_call_shows_each_attempt_and_the_callers_latency(
    stack: LocalStack, receiver: ReceiverClient
) -> None:
    """Before, LiteLLM retried and left one 10 ms error span for a call its caller waited
    seconds for. Now each of the gateway's attempts is a generation of the request's trace,
    with its own timing; Langfuse's trace latency is their earliest start to their latest end
    (packages/shared/src/server/repositories/traces.ts, latency_milliseconds)."""
    session = new_session_id()
    started = time.time_ns()
    response = gateway_call(stack.gateway_url, "Fail. [[emulator:status=500]]", session,
                            model="groq-llama")  # fmt: skip
    finished = time.time_ns()
    assert response.status_code == 500
    first, second = sorted(spans_of(receiver, session, count=2),
                           key=lambda span: span["start_time_unix_nano"])  # fmt: skip
    assert first["trace_id"] == second["trace_id"]
    assert [attribute(s, "langfuse.observation.level") for s in (first, second)] == ["ERROR"] * 2
    assert (first["name"], second["name"]) == (
        "chat.completions groq-llama", "chat.completions groq-llama (attempt 2)")  # fmt: skip
    assert started <= first["start_time_unix_nano"]
    assert second["end_time_unix_nano"] <= finished
    # The wait between the attempts (0.5-0.75 s) is in the trace, as the caller had it.
    assert second["start_time_unix_nano"] - first["end_time_unix_nano"] >= 0.5e9
    trace_latency = second["end_time_unix_nano"] - first["start_time_unix_nano"]
    assert trace_latency >= (finished - started) - 0.3e9


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
