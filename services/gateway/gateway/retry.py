"""The one retry layer of the chain: the gateway's.

A provider that refuses a call (429, 5xx, Anthropic's 529) or a LiteLLM that cannot be
reached is tried again by the gateway, and by nothing else:
- LiteLLM does not retry (`num_retries: 0` in services/litellm/config.yaml): its retries
  were invisible to the gateway, waited about twice the provider's Retry-After, and left
  Langfuse one 10 ms error span for a call its caller waited seconds for;
- every error the gateway answers carries `x-should-retry: false` (gateway/errors.py), which
  the OpenAI and Anthropic SDKs obey, so their default retries do not multiply it.
Each attempt is its own LiteLLM call, so Langfuse gets one generation per attempt, with its
own timing, in the request's one trace.

What is retried: only before the caller has any byte of the answer, at most `attempts` calls
in all, after the provider's Retry-After (when LiteLLM passes it on) or BACKOFF_S, and only
if that wait is at most `max_wait_s` and the retry starts within `budget_s` of the first
attempt. A provider asking for a longer wait gets its answer passed on at once, with its
Retry-After: the caller decides. So a caller's error comes within `budget_s` plus one
attempt's time, after at most `attempts` provider calls (measured: tests/reliability).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

# Statuses a later attempt may well not get: rate limits, provider errors and overload.
RETRIED_STATUSES = frozenset({429, 500, 502, 503, 504, 529})
# The wait before a retry when the provider names none, plus up to JITTER_S at random so
# that many callers refused at once do not come back at once.
BACKOFF_S = 0.5
JITTER_S = 0.25


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 2
    max_wait_s: float = 4.0
    budget_s: float = 10.0

    def wait_before_retry(
        self, attempt: int, status: int, retry_after_s: float | None, elapsed_s: float
    ) -> float | None:
        """Seconds to wait before attempt `attempt + 1`, or None: answer the caller now.

        `status` is what attempt `attempt` got (0: LiteLLM could not be reached) and
        `elapsed_s` the time since the first attempt started."""
        if attempt >= self.attempts or not (status == 0 or status in RETRIED_STATUSES):
            return None
        wait = retry_after_s if retry_after_s is not None else BACKOFF_S
        if wait > self.max_wait_s:
            return None
        wait += random.uniform(0, JITTER_S)  # noqa: S311 -- jitter, not a secret
        if elapsed_s + wait > self.budget_s:
            return None
        return wait


def retry_after_seconds(value: str | None) -> float | None:
    """A Retry-After in whole seconds, as providers send it (HTTP dates are not used here)."""
    if value is None or not value.strip().isdigit():
        return None
    return float(value.strip())
