"""Every fault of the matrix (faults.py) through the whole chain: what the caller gets, how
fast, that nothing stays open at the provider afterwards, and that the chain recovers."""

from __future__ import annotations

import time
from typing import Any

import anthropic
import openai
import pytest

from devstack.stack import LocalStack
from tests.integration.gateway_calls import emulator_stats
from tests.reliability.chain import (
    Outcome,
    call,
    gateway_in_flight,
    provider_idle,
    request_body,
    wait_until,
)
from tests.reliability.conftest import CLIENT
from tests.reliability.faults import MATRIX, RETRIED_BOUND_S, Fault
from tests.reliability.report import Report
from tests.reliability.stack_control import kill

pytestmark = pytest.mark.reliability

# Slack for the caller's own timeout: a hang shows up as a failed bound, not a stuck test.
HANG_SLACK_S = 10.0


def _content(fault: Fault) -> str:
    return f"Reliability row {fault.name}. {fault.injection.marker}".strip()


def _check(fault: Fault, outcome: Outcome, attempts: int, disconnects: int) -> list[str]:
    """Every way `outcome` differs from the row's expectation."""
    expect, problems = fault.expect, []
    if (outcome.status, outcome.shape) != (expect.status, expect.shape):
        problems.append(f"got {outcome.status} {outcome.shape}")
    if outcome.code != expect.code:
        problems.append(f"error code {outcome.code!r}, error {outcome.error}")
    if expect.retry_after and not outcome.headers.get("retry-after", "").isdigit():
        problems.append(f"no Retry-After in {outcome.headers}")
    if expect.retry_after_value is not None and (
        outcome.headers.get("retry-after") != expect.retry_after_value
    ):
        problems.append(f"Retry-After {outcome.headers.get('retry-after')}")
    if (
        outcome.status is not None
        and outcome.status >= 400
        and (outcome.headers.get("x-should-retry") != "false")
    ):
        problems.append("no x-should-retry: false (the SDKs would retry on top)")
    if expect.source is not None and outcome.headers.get("x-gateway-error-source") != (
        expect.source
    ):
        problems.append(f"x-gateway-error-source {outcome.headers.get('x-gateway-error-source')}")
    if attempts != expect.attempts:
        problems.append(f"{attempts} provider attempts")
    if disconnects != expect.provider_disconnects:
        problems.append(f"{disconnects} provider connections closed early")
    if expect.ratelimit_headers is not None:
        has = any(name.startswith("x-ratelimit-") for name in outcome.headers)
        if has != expect.ratelimit_headers:
            problems.append(f"x-ratelimit-* headers present: {has}")
    if outcome.elapsed_s > fault.bound_s:
        problems.append(f"took {outcome.elapsed_s:.2f} s, bound {fault.bound_s} s")
    return problems


@pytest.mark.parametrize("fault", MATRIX, ids=str)
def test_fault(stack: LocalStack, report: Report, record_property: Any, fault: Fault) -> None:
    injection = fault.injection
    body = request_body(fault.call.model, _content(fault), stream=fault.call.stream)
    before = emulator_stats(stack)
    released_s: float | None = None
    with injection.applied(stack) as target:
        outcome = call(
            target, CLIENT, body, timeout_s=fault.bound_s + HANG_SLACK_S,
            mid_stream=injection.mid_stream, after_events=injection.after_events,
            on_kill=lambda: kill(stack, "litellm"),
        )  # fmt: skip
        # The provider must not be left with an open call (or stream) behind the caller.
        try:
            released_s = wait_until(lambda: provider_idle(stack), fault.expect.released_within_s)
        except TimeoutError:
            released_s = None
        in_flight = gateway_in_flight(target)
    after = emulator_stats(stack)
    attempts = after["requests"] - before["requests"]
    disconnects = after["client_disconnects"] - before["client_disconnects"]

    # Recovery: once the fault is gone, the same call without it succeeds (for a stopped
    # process: after it was started again), and answers as it did during the fault.
    plain = request_body(fault.call.model, _content(fault).split(" [[")[0], stream=False)
    recovered = [call(stack, CLIENT, plain, timeout_s=30) for _ in range(2)]
    if fault.call.stream:
        streamed = request_body(fault.call.model, "Recovered?", stream=True)
        recovered.append(call(stack, CLIENT, streamed, timeout_s=30))

    problems = _check(fault, outcome, attempts, disconnects)
    if released_s is None:
        problems.append(f"provider still busy {fault.expect.released_within_s} s after: {after}")
    if in_flight != 0:
        problems.append(f"gateway_requests_in_flight is {in_flight} after the call")
    bad = [r.summary() for r in recovered if r.shape not in ("completion", "stream-complete")]
    if bad:
        problems.append(f"no recovery after the fault: {bad}")
    if fault.expect.shape == "completion" and outcome.text != recovered[0].text:
        problems.append("the answer during the fault differs from the answer without it")

    report.add_row(
        name=fault.name, injected=str(injection), request=str(fault.call),
        expected=str(fault.expect), bound_s=fault.bound_s,
        measured_s=round(outcome.elapsed_s, 3),
        provider_released_s=None if released_s is None else round(released_s, 3),
        outcome=outcome.summary(), attempts=attempts, passed=not problems,
    )  # fmt: skip
    record_property("measured_s", round(outcome.elapsed_s, 3))
    print(f"{fault.name}: {outcome.summary()} in {outcome.elapsed_s:.2f} s "
          f"(bound {fault.bound_s} s), {attempts} provider attempts")  # fmt: skip
    assert not problems, f"{fault.name} ({injection}): " + "; ".join(problems)


def test_the_openai_sdk_raises_on_a_stream_that_broke(stack: LocalStack) -> None:
    """The stream contract from a real caller's side: the error event after a 200 makes the
    OpenAI SDK raise, so a broken stream is never taken for a finished one."""
    sdk = openai.OpenAI(base_url=f"{stack.gateway_url}/v1", api_key=CLIENT.key, max_retries=0)
    stream = sdk.chat.completions.create(
        model="groq-llama", stream=True,
        messages=[{"role": "user", "content": "Break. [[emulator:reset_after=3]]"}],
    )  # fmt: skip
    received: list[str] = []

    def read_all() -> None:
        for chunk in stream:
            received.extend(c.delta.content or "" for c in chunk.choices)

    with pytest.raises(openai.APIError, match="broke off before it finished"):
        read_all()
    assert len([text for text in received if text]) == 3  # the chunks before the reset


def _sdk_call(sdk: str, stack: LocalStack, content: str) -> Exception:
    """One call with the official SDK at its defaults (two retries); the error it raised."""
    messages: Any = [{"role": "user", "content": content}]
    try:
        if sdk == "openai":
            client = openai.OpenAI(base_url=f"{stack.gateway_url}/v1", api_key=CLIENT.key)
            client.chat.completions.create(model="groq-llama", messages=messages)
        else:
            claude = anthropic.Anthropic(base_url=stack.gateway_url, api_key=CLIENT.key)
            claude.messages.create(model="claude-sonnet", max_tokens=64, messages=messages)
    except (openai.APIStatusError, anthropic.APIStatusError) as error:
        return error
    raise AssertionError("the call succeeded")


@pytest.mark.parametrize(
    ("directive", "status", "bound_s"),
    # Retry-After 2: the gateway waits it once. The issue measured 18.75 s and 6 calls.
    [("status=429,retry_after=2", 429, RETRIED_BOUND_S + 1.0),
     # The issue measured ~8.5 s and 6 calls.
     ("status=500", 500, RETRIED_BOUND_S)],
)  # fmt: skip
@pytest.mark.parametrize("sdk", ["openai", "anthropic"])
def test_an_sdk_caller_pays_for_one_retry_layer(
    stack: LocalStack, report: Report, record_property: Any, sdk: str, directive: str,
    status: int, bound_s: float,
) -> None:  # fmt: skip
    """Provider calls per caller call and time to the caller's error, as a caller with the
    official SDK sees them: the gateway's one retry, no SDK retry on top (x-should-retry)."""
    before = emulator_stats(stack)["requests"]
    started = time.monotonic()
    error = _sdk_call(sdk, stack, f"Refuse. [[emulator:{directive}]]")
    elapsed = time.monotonic() - started
    calls = emulator_stats(stack)["requests"] - before
    got = getattr(error, "status_code", None)
    report.add_row(
        name=f"sdk-{sdk}-{status}", injected=f"provider `{directive}`", request=f"{sdk} SDK",
        expected=f"{status} error, 2 provider calls", bound_s=bound_s,
        measured_s=round(elapsed, 3), provider_released_s=None,
        outcome=f"{got} {type(error).__name__}", attempts=calls,
        passed=got == status and calls == 2 and elapsed <= bound_s,
    )  # fmt: skip
    record_property("measured_s", round(elapsed, 3))
    record_property("provider_calls", calls)
    print(f"{sdk} SDK, provider {directive}: {type(error).__name__} after {elapsed:.2f} s, "
          f"{calls} provider calls (bound {bound_s} s)")  # fmt: skip
    assert got == status
    assert calls == 2
    assert elapsed <= bound_s
