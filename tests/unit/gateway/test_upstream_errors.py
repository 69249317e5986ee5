"""LiteLLM's errors as the caller gets them: the provider's own message, no LiteLLM wording.
The messages are LiteLLM 1.110.2's, as recorded from the local stack (provider emulator)."""

from __future__ import annotations

import orjson
import pytest
from gateway.upstream_errors import clean_message, upstream_error

SUFFIX = (
    "\n\nLiteLLM: model group 'groq-llama' failed with the error above. No fallback was attempted."
)
GROQ_429 = (
    'litellm.RateLimitError: RateLimitError: GroqException - {"error":{"message":"emulated rate '
    'limit reached","type":"tokens","param":null,"code":"rate_limit_exceeded"}}' + SUFFIX
)
ANTHROPIC_429_BYTES = (
    'litellm.RateLimitError: AnthropicException - b\'{"type":"error","error":{"type":'
    '"rate_limit_error","message":"emulated rate limit"},"request_id":"req_1"}\'' + SUFFIX
)
ANTHROPIC_500 = (
    'litellm.InternalServerError: AnthropicException - {"type":"error","error":{"type":'
    '"api_error","message":"emulated internal server error"},"request_id":"req_2"}. Handle with '
    "`litellm.InternalServerError`." + SUFFIX
)
ANTHROPIC_529 = (
    'litellm.InternalServerError: AnthropicError - {"type":"error","error":{"type":'
    '"overloaded_error","message":"Overloaded (emulated)"}}' + SUFFIX
)


@pytest.mark.parametrize(
    ("litellm_message", "status", "expected"),
    [
        (GROQ_429, 429, "Groq: emulated rate limit reached"),
        (ANTHROPIC_429_BYTES, 429, "Anthropic: emulated rate limit"),
        (ANTHROPIC_500, 500, "Anthropic: emulated internal server error"),
        (ANTHROPIC_529, 529, "Anthropic: Overloaded (emulated)"),
        ("litellm.BadRequestError: Invalid model name passed in model=x", 400,
         "Invalid model name passed in model=x"),
    ],
)  # fmt: skip
def test_the_provider_speaks_not_litellm(litellm_message: str, status: int, expected: str) -> None:
    cleaned = clean_message(litellm_message, status)
    assert cleaned == expected
    assert "litellm" not in cleaned.lower()
    assert "fallback" not in cleaned


def test_an_upstream_429_keeps_the_providers_retry_after() -> None:
    body = orjson.dumps({"error": {"message": GROQ_429, "type": "rate_limit_error", "code": "429"}})
    error = upstream_error(429, {"llm_provider-retry-after": "7"}, body)
    assert (error.status, error.type, error.code) == (
        429,
        "rate_limit_error",
        "rate_limit_exceeded",
    )
    assert error.headers["retry-after"] == "7"
    assert error.headers["x-gateway-error-source"] == "upstream"
    assert error.headers["x-should-retry"] == "false"
    assert upstream_error(429, {}, body).headers["retry-after"] == "1"


@pytest.mark.parametrize(
    ("status", "code"),
    [(500, "provider_error"), (503, "provider_overloaded"), (529, "provider_overloaded"),
     (504, "provider_timeout"), (400, "invalid_request")],
)  # fmt: skip
def test_each_status_has_a_code_that_says_what_happened(status: int, code: str) -> None:
    body = orjson.dumps({"error": {"message": ANTHROPIC_500, "type": "x", "code": str(status)}})
    error = upstream_error(status, {}, body)
    assert (error.status, error.code) == (status, code)


def test_litellm_refusing_the_master_key_is_the_gateways_502() -> None:
    error = upstream_error(401, {}, b'{"error":{"message":"bad key"}}')
    assert (error.status, error.code) == (502, "upstream_auth")
    assert "bad key" not in error.message
