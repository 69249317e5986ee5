"""Bugs the reliability suite found, kept as regression tests once fixed. While a bug is
open its test is marked xfail(strict=True), so the fix turns it into a failure until the
marker goes."""

from __future__ import annotations

import pytest

from devstack.stack import LocalStack
from tests.integration.gateway_calls import chat_body, post_chat
from tests.reliability.conftest import CLIENT

pytestmark = pytest.mark.reliability


def test_a_429_passes_on_the_providers_retry_after(stack: LocalStack) -> None:
    """Fixed: the gateway read only `retry-after`, and LiteLLM relays the provider's header
    as `llm_provider-retry-after`, so every caller was told to retry after 1 s."""
    body = chat_body("groq-llama", "Slow down. [[emulator:status=429,retry_after=2]]")
    response = post_chat(stack, CLIENT, body, timeout=30)
    if response.status_code != 429:  # not the bug: fail for real, xfail does not apply
        pytest.fail(f"expected a 429, got {response.status_code}: {response.text}")
    assert int(response.headers["retry-after"]) >= 2, dict(response.headers)
