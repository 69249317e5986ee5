"""Usage is read from the tail of a stream, and rate-limit decisions become headers."""

from __future__ import annotations

from gateway.ratelimit import Decision
from gateway.relay import _stream_usage


def test_usage_comes_from_the_last_event_that_carries_it() -> None:
    tail = (
        b'data: {"choices":[{"delta":{"content":"a"}}],"usage":null}\n\n'
        b'data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":5}}\n\n'
        b"data: [DONE]\n\n"
    )
    assert _stream_usage(tail) == {"prompt_tokens": 3, "completion_tokens": 5}
    assert _stream_usage(b'data: {"choices":[]}\n\ndata: [DONE]\n\n') is None
    assert _stream_usage(b'data: {"usage": {"broken"') is None


def test_a_refusal_carries_retry_after_and_the_limit() -> None:
    refused = Decision(allowed=False, limit_name="requests", limit=5, remaining=0, reset_ms=1500)
    assert refused.headers() == {
        "x-ratelimit-limit-requests": "5",
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": "2s",
        "retry-after": "2",
    }
    assert Decision(allowed=True).headers() == {}
