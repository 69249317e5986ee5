"""The fault matrix as data: one row per fault, what the caller must get, and how fast.

Each row names how the fault is injected, the request, the caller-visible answer, and a
bound on how long the caller waits. Where the answer depends on LiteLLM (1.110.2 with
services/litellm/config.yaml), the row encodes what was measured through the real proxy,
and its comment says why.

Measured here (2 cores, idle, emulator upstream) before writing the bounds:
- LiteLLM does not retry (`num_retries: 0`): it answers a provider's 429 or 5xx at once. The
  gateway is the one retry layer (services/gateway/gateway/retry.py): one more attempt after
  the provider's Retry-After (at most 4 s; longer ones are passed on at once) or 0.5-0.75 s.
  So a refused call costs 2 provider calls, and its caller's error comes after about that
  wait plus two attempts of 20-400 ms: RETRIED_BOUND_S below. Before (LiteLLM retrying once
  behind SDKs retrying twice) the same 429 with Retry-After 2 took 18.75 s and 6 calls.
- LiteLLM answers an Anthropic 529 with 503 for chat completions (529 on /v1/messages).
- LiteLLM does not forward the provider's `retry-after` header as such (it sends it as
  `llm_provider-retry-after`, chat completions only); the gateway passes it on.
- A provider stream that breaks mid-way (TCP reset, or closed without finishing) reaches
  LiteLLM's caller as its error event followed by `[DONE]`; the gateway replaces that event
  with its own (`code: "provider_stream_broken"`), in OpenAI's shape.
- When a caller of LiteLLM leaves before the provider's first byte (the gateway timing
  out), LiteLLM keeps its own provider call open until the provider answers.
- LiteLLM on SIGTERM finishes open streams before exiting; on SIGKILL the gateway ends the
  caller's stream with its own `upstream_closed` error event and `[DONE]`.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from devstack.langfuse_receiver import ReceiverClient
from devstack.stack import LocalStack
from tests.reliability.chain import MidStream, Shape
from tests.reliability.stack_control import spare_gateway, stopped

LITELLM_READY_S = 90  # LiteLLM imports for 8-15 s on two cores; more when the machine is busy


class Injection:
    """How a fault comes about. By default: nothing around the call, no emulator marker."""

    @property
    def marker(self) -> str:
        """Put in the last user message (the emulator's fault directive)."""
        return ""

    @property
    def mid_stream(self) -> MidStream | None:
        return None

    @property
    def after_events(self) -> int:
        return 0

    @contextlib.contextmanager
    def applied(self, stack: LocalStack) -> Iterator[LocalStack]:
        """The fault is in place inside the block; yields the stack to call."""
        yield stack


@dataclass(frozen=True)
class Provider(Injection):
    """The provider misbehaves as the emulator directive says."""

    directive: str

    @property
    def marker(self) -> str:
        return f"[[emulator:{self.directive}]]"

    def __str__(self) -> str:
        return f"provider `{self.directive}`"


@dataclass(frozen=True)
class Stopped(Injection):
    """A process of the stack is down for the call (SIGTERM), started again after it."""

    process: str
    ready_timeout_s: float = 30
    # Seconds to wait after stopping it, before the call.
    settle_s: float = 0

    @contextlib.contextmanager
    def applied(self, stack: LocalStack) -> Iterator[LocalStack]:
        with stopped(stack, self.process, self.ready_timeout_s):
            time.sleep(self.settle_s)
            yield stack

    def __str__(self) -> str:
        return f"{self.process} stopped"


@dataclass(frozen=True)
class LangfuseMode(Injection):
    """The Langfuse receiver hangs every export, or answers it 503."""

    mode: Literal["hang", "error"]

    @contextlib.contextmanager
    def applied(self, stack: LocalStack) -> Iterator[LocalStack]:
        receiver = ReceiverClient(stack.receiver_url)
        receiver.set_mode(self.mode)
        try:
            yield stack
        finally:
            receiver.set_mode("normal")

    def __str__(self) -> str:
        return f"Langfuse {'hung' if self.mode == 'hang' else 'answering 503'}"


@dataclass(frozen=True)
class SlowerThanTimeout(Injection):
    """The provider takes longer than the gateway's upstream timeout.

    A spare gateway with a 0.5 s timeout (production: 300 s) keeps the row short, and keeps
    the main gateway's timeout above LiteLLM's own retry waits for the other rows."""

    latency_ms: int
    timeout_s: float = 0.5

    @property
    def marker(self) -> str:
        return f"[[emulator:latency_ms={self.latency_ms}]]"

    @contextlib.contextmanager
    def applied(self, stack: LocalStack) -> Iterator[LocalStack]:
        with spare_gateway(stack, GATEWAY_UPSTREAM_TIMEOUT_S=str(self.timeout_s)) as spare:
            yield spare

    def __str__(self) -> str:
        return f"provider `latency_ms={self.latency_ms}`, gateway timeout {self.timeout_s:g} s"


@dataclass(frozen=True)
class MidStreamEvent(Injection):
    """Something happens once `after` SSE events reached the caller (chunks 200 ms apart)."""

    action: MidStream
    after: int = 3

    @property
    def marker(self) -> str:
        return "[[emulator:chunk_delay_ms=200]]"

    @property
    def mid_stream(self) -> MidStream:
        return self.action

    @property
    def after_events(self) -> int:
        return self.after

    @contextlib.contextmanager
    def applied(self, stack: LocalStack) -> Iterator[LocalStack]:
        if self.action != "kill_litellm":
            yield stack
            return
        try:
            yield stack
        finally:
            # Reap the killed process and start a new one.
            stack.restart("litellm", ready_timeout=LITELLM_READY_S)

    def __str__(self) -> str:
        what = "caller disconnects" if self.action == "caller_leaves" else "LiteLLM SIGKILLed"
        return f"{what} after {self.after} events"


@dataclass(frozen=True)
class Call:
    model: Literal["claude-sonnet", "groq-llama"]
    stream: bool = False

    def __str__(self) -> str:
        return f"{self.model}{' stream' if self.stream else ''}"


@dataclass(frozen=True)
class Expect:
    """What the caller must see, and what must be true at the provider afterwards."""

    status: int | None
    shape: Shape
    code: str | None = None  # the OpenAI error `code`, in the body or the stream's error event
    retry_after: bool = False
    # The Retry-After value itself, where the row decides it (None: any whole seconds).
    retry_after_value: str | None = None
    source: Literal["gateway", "upstream"] | None = None  # x-gateway-error-source
    attempts: int = 1  # requests the provider received
    # Provider connections closed by the caller's side before the answer was complete.
    provider_disconnects: int = 0
    # After the caller's answer (or leaving), the provider has nothing open within this.
    released_within_s: float = 3.0
    # Whether X-RateLimit-* headers are on the answer (None: not checked).
    ratelimit_headers: bool | None = None

    def __str__(self) -> str:
        parts = [f"{self.status or '-'} {self.shape}"]
        if self.code is not None:
            parts.append(f"code {self.code}")
        if self.retry_after:
            parts.append("Retry-After")
        parts.append(f"{self.attempts} provider attempt{'s' if self.attempts != 1 else ''}")
        return ", ".join(parts)


@dataclass(frozen=True)
class Fault:
    name: str
    injection: Injection
    call: Call
    expect: Expect
    bound_s: float  # the caller has its answer (or has left) within this

    def __str__(self) -> str:
        return self.name


# The gateway's one retry: the wait before it (the provider's Retry-After, 1 s by default
# in the emulator's 429, or 0.5-0.75 s) and two attempts fit in here.
RETRIED_BOUND_S = 2.5
# A provider asking for 3 s: the gateway waits it (it waits up to 4 s), then tries again.
RETRY_AFTER_WAITED_BOUND_S = 4.5

MATRIX: tuple[Fault, ...] = (
    # -- the provider answers with an error before any stream starts ----------------------
    # 429: the gateway waits the provider's Retry-After and tries once more, then passes the
    # 429 on with that Retry-After and x-should-retry: false (the SDKs do not retry it).
    Fault("provider-429", Provider("status=429"), Call("groq-llama"),
          Expect(429, "error", code="rate_limit_exceeded", retry_after=True, source="upstream",
                 attempts=2), RETRIED_BOUND_S),
    # A stream request fails before its first chunk: a plain JSON error, not an SSE stream.
    Fault("provider-429-stream", Provider("status=429"), Call("claude-sonnet", stream=True),
          Expect(429, "error", code="rate_limit_exceeded", retry_after=True, source="upstream",
                 attempts=2), RETRIED_BOUND_S),
    Fault("provider-429-retry-after-3", Provider("status=429,retry_after=3"),
          Call("groq-llama"),
          Expect(429, "error", code="rate_limit_exceeded", retry_after=True,
                 retry_after_value="3", source="upstream", attempts=2),
          RETRY_AFTER_WAITED_BOUND_S),
    # Longer than the gateway waits: passed on at once, with the provider's Retry-After.
    Fault("provider-429-retry-after-30", Provider("status=429,retry_after=30"),
          Call("groq-llama"),
          Expect(429, "error", code="rate_limit_exceeded", retry_after=True,
                 retry_after_value="30", source="upstream", attempts=1), 1.0),
    Fault("provider-500", Provider("status=500"), Call("groq-llama"),
          Expect(500, "error", code="provider_error", source="upstream", attempts=2),
          RETRIED_BOUND_S),
    Fault("provider-500-stream", Provider("status=500"), Call("claude-sonnet", stream=True),
          Expect(500, "error", code="provider_error", source="upstream", attempts=2),
          RETRIED_BOUND_S),
    # Anthropic's 529 "overloaded": LiteLLM answers chat completions 503.
    Fault("provider-529", Provider("status=529"), Call("claude-sonnet"),
          Expect(503, "error", code="provider_overloaded", source="upstream", attempts=2),
          RETRIED_BOUND_S),
    # -- the provider's stream breaks after it started (the caller already has 200) -------
    # A TCP reset mid-stream: the gateway's error event in place of LiteLLM's, then [DONE];
    # not retried (the caller has part of the answer).
    Fault("reset-mid-stream-groq", Provider("reset_after=3"), Call("groq-llama", stream=True),
          Expect(200, "stream-error", code="provider_stream_broken"), 3.0),
    Fault("reset-mid-stream-claude", Provider("reset_after=3"),
          Call("claude-sonnet", stream=True),
          Expect(200, "stream-error", code="provider_stream_broken"), 3.0),
    # The provider closes the connection mid-stream without a reset: the same error event.
    Fault("provider-closes-stream", Provider("stall_after=3,stall_s=1"),
          Call("claude-sonnet", stream=True),
          Expect(200, "stream-error", code="provider_stream_broken"), 4.0),
    # A stream that goes silent: the gateway ends it after its idle timeout (2 s in this
    # stack, conftest.py) with its own error event, and closing LiteLLM's connection makes
    # LiteLLM close the provider's.
    Fault("stalled-stream", Provider("stall_after=3,stall_s=30"), Call("groq-llama", stream=True),
          Expect(200, "stream-error", code="upstream_timeout", provider_disconnects=1), 6.0),
    # -- the provider does not answer in time ----------------------------------------------
    # The gateway gives up after its timeout with 504. LiteLLM keeps its provider call open
    # until the provider answers (1.5 s after the request), so "released" covers that wait.
    Fault("timeout", SlowerThanTimeout(1500), Call("claude-sonnet"),
          Expect(504, "error", code="upstream_timeout", source="gateway",
                 released_within_s=3.0), 2.0),
    # A stream waits for LiteLLM's headers, which come with the provider's first byte.
    Fault("timeout-before-first-chunk", SlowerThanTimeout(1500), Call("groq-llama", stream=True),
          Expect(504, "error", code="upstream_timeout", source="gateway",
                 released_within_s=3.0), 2.0),
    # -- a part of the chain is down ------------------------------------------------------
    # LiteLLM stopped: the connect is refused, again after 0.5-0.75 s: 503 with Retry-After.
    Fault("litellm-stopped", Stopped("litellm", LITELLM_READY_S), Call("groq-llama"),
          Expect(503, "error", code="upstream_unavailable", retry_after=True, source="gateway",
                 attempts=0), 2.0),
    # LiteLLM crashes mid-stream: the gateway's own error event, then [DONE].
    Fault("litellm-killed-mid-stream", MidStreamEvent("kill_litellm"),
          Call("groq-llama", stream=True),
          Expect(200, "stream-error", code="upstream_closed", provider_disconnects=1), 5.0),
    # Redis stopped: served as before (fail-open), only the rate-limit headers are missing.
    # (After the gateway's entries taken ahead, held up to 1 s, have run out: settle_s.)
    Fault("redis-stopped", Stopped("redis", 10, settle_s=1.2), Call("claude-sonnet"),
          Expect(200, "completion", ratelimit_headers=False), 2.0),
    # Langfuse is written to in the background: down, hung or failing, callers see nothing.
    Fault("langfuse-down", Stopped("langfuse-receiver", 20), Call("groq-llama"),
          Expect(200, "completion"), 2.0),
    Fault("langfuse-hung", LangfuseMode("hang"), Call("claude-sonnet", stream=True),
          Expect(200, "stream-complete"), 2.0),
    Fault("langfuse-503", LangfuseMode("error"), Call("groq-llama"),
          Expect(200, "completion"), 2.0),
    # -- the caller goes away ---------------------------------------------------------------
    # The gateway closes LiteLLM's connection, LiteLLM closes the provider's: nothing stays
    # open, and the gateway's in-flight gauge returns to 0.
    Fault("caller-leaves-mid-stream", MidStreamEvent("caller_leaves", after=2),
          Call("groq-llama", stream=True),
          Expect(None, "left", provider_disconnects=1), 2.0),
)  # fmt: skip
