"""Langfuse hung: completions keep their latency, because LiteLLM exports in the background.

The matrix (faults.py) shows that single calls succeed while Langfuse is down, hung or
failing; this test measures that a hung Langfuse adds no latency, with an export proven
to be hanging for the whole measurement.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import pytest

from devstack.langfuse_receiver import ReceiverClient
from devstack.stack import LocalStack
from tests.reliability.chain import Outcome, call, request_body, wait_until
from tests.reliability.conftest import CLIENT
from tests.reliability.report import Report

pytestmark = pytest.mark.reliability

CALLS = 10
PACE_S = 0.2  # spread over 2 s, so LiteLLM's ~1 s export batches fall inside the window
# Measured here: the medians differ by a few ms either way. A synchronous export would
# add seconds (the SDK's timeout and retries), so 100 ms still catches it on a busy box.
MEDIAN_GROWTH_BOUND_MS = 100.0
SLOWEST_BOUND_S = 2.0


def _paced_calls(stack: LocalStack, tag: str) -> list[Outcome]:
    outcomes = []
    for i in range(CALLS):
        started = time.monotonic()
        model = ("claude-sonnet", "groq-llama")[i % 2]
        body = request_body(model, f"Langfuse {tag} call {i}.", stream=i % 4 >= 2)
        outcomes.append(call(stack, CLIENT, body, timeout_s=30))
        time.sleep(max(0.0, PACE_S - (time.monotonic() - started)))
    return outcomes


def _ok(outcomes: list[Outcome]) -> bool:
    return all(o.shape in ("completion", "stream-complete") for o in outcomes)


def test_hung_langfuse_adds_no_latency(
    stack: LocalStack, report: Report, record_property: Any
) -> None:
    receiver = ReceiverClient(stack.receiver_url)
    baseline = _paced_calls(stack, "up")
    receiver.set_mode("hang")
    try:
        # Measure only once an export is really stuck waiting on Langfuse.
        call(stack, CLIENT, request_body("groq-llama", "Start a hang.", stream=False), timeout_s=30)
        wait_until(lambda: receiver.stats()["hanging"] >= 1, timeout_s=15, interval_s=0.2)
        hung = _paced_calls(stack, "hung")
        hanging_at_end = receiver.stats()["hanging"]
    finally:
        receiver.set_mode("normal")

    base_ms = statistics.median(o.elapsed_s for o in baseline) * 1000
    hung_ms = statistics.median(o.elapsed_s for o in hung) * 1000
    slowest_s = max(o.elapsed_s for o in hung)
    growth_ms = hung_ms - base_ms
    values = {
        "calls": CALLS, "median_up_ms": round(base_ms, 1), "median_hung_ms": round(hung_ms, 1),
        "growth_ms": round(growth_ms, 1), "slowest_hung_s": round(slowest_s, 3),
        "exports_hanging": hanging_at_end,
    }  # fmt: skip
    report.add("langfuse_hung", **values)
    for name, value in values.items():
        record_property(name, value)
    print(f"Langfuse hung: median {base_ms:.1f} ms -> {hung_ms:.1f} ms over {CALLS} calls each, "
          f"slowest {slowest_s:.2f} s, {hanging_at_end} exports hanging")  # fmt: skip

    assert _ok(baseline), [o.summary() for o in baseline]
    assert _ok(hung), [o.summary() for o in hung]
    assert hanging_at_end >= 1, "no export was hanging: the test did not test a hung Langfuse"
    assert growth_ms < MEDIAN_GROWTH_BOUND_MS
    assert slowest_s < SLOWEST_BOUND_S
