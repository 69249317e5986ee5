"""Rate-limit decisions become headers."""

from __future__ import annotations

from gateway.ratelimit import Decision


def test_a_refusal_carries_retry_after_and_the_limit() -> None:
    refused = Decision(allowed=False, limit_name="requests", limit=5, remaining=0, reset_ms=1500)
    assert refused.headers() == {
        "x-ratelimit-limit-requests": "5",
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": "2s",
        "retry-after": "2",
    }
    assert Decision(allowed=True).headers() == {}
