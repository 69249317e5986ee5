"""Bugs the reliability suite found, each a failing test marked xfail(strict=True): when the
bug is fixed the test passes, strict xfail turns that into a failure, and the marker goes."""

from __future__ import annotations

import pytest

from devstack.stack import LocalStack
from tests.integration.gateway_calls import chat_body, post_chat
from tests.reliability.conftest import CLIENT

pytestmark = pytest.mark.reliability


@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason="gateway bug: an upstream 429 always carries `Retry-After: 1`, whatever the "
    "provider asked for. LiteLLM passes the provider's header on as "
    "`llm_provider-retry-after`, and gateway/app.py `_upstream_error` reads only "
    "`retry-after`, falling back to 1. Reproducer: POST /v1/chat/completions with "
    "groq-llama and the message `[[emulator:status=429,retry_after=2]]`: the caller gets "
    "429 with Retry-After 1, and LiteLLM's own answer has llm_provider-retry-after: 2.",
)
def test_a_429_passes_on_the_providers_retry_after(stack: LocalStack) -> None:
    body = chat_body("groq-llama", "Slow down. [[emulator:status=429,retry_after=2]]")
    response = post_chat(stack, CLIENT, body, timeout=30)
    if response.status_code != 429:  # not the bug: fail for real, xfail does not apply
        pytest.fail(f"expected a 429, got {response.status_code}: {response.text}")
    assert int(response.headers["retry-after"]) >= 2, dict(response.headers)
