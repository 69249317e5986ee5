"""The one retry layer (gateway/retry.py): what is retried, after how long, and when not."""

from __future__ import annotations

import pytest
from gateway.retry import BACKOFF_S, JITTER_S, RetryPolicy, retry_after_seconds

POLICY = RetryPolicy(attempts=2, max_wait_s=4.0, budget_s=10.0)


@pytest.mark.parametrize("status", [0, 429, 500, 502, 503, 504, 529])
def test_a_refused_or_unreachable_call_is_tried_once_more(status: int) -> None:
    wait = POLICY.wait_before_retry(1, status, None, elapsed_s=0.05)
    assert wait is not None
    assert BACKOFF_S <= wait <= BACKOFF_S + JITTER_S
    assert POLICY.wait_before_retry(2, status, None, elapsed_s=0.7) is None  # attempts used up


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413, 422])
def test_a_request_the_provider_refused_as_invalid_is_not_retried(status: int) -> None:
    assert POLICY.wait_before_retry(1, status, None, elapsed_s=0.0) is None


def test_the_providers_retry_after_is_waited_for_when_it_is_short() -> None:
    wait = POLICY.wait_before_retry(1, 429, 2.0, elapsed_s=0.1)
    assert wait is not None
    assert 2.0 <= wait <= 2.0 + JITTER_S
    # Longer than the gateway waits: the caller gets the 429 (and the Retry-After) at once.
    assert POLICY.wait_before_retry(1, 429, 30.0, elapsed_s=0.1) is None


def test_no_retry_starts_after_the_budget() -> None:
    assert POLICY.wait_before_retry(1, 500, None, elapsed_s=9.9) is None
    assert RetryPolicy(attempts=1).wait_before_retry(1, 500, None, elapsed_s=0.0) is None


def test_retry_after_is_whole_seconds() -> None:
    assert retry_after_seconds("3") == 3.0
    assert retry_after_seconds(" 7 ") == 7.0
    assert retry_after_seconds(None) is None
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") is None
