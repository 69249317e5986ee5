"""LiteLLM's error answers, as the caller should see them: the status, the provider's own
message (not LiteLLM's wrapping of it), and the provider's Retry-After.

LiteLLM 1.110.2 wraps a provider's error as, e.g.,
    litellm.RateLimitError: RateLimitError: GroqException - {"error":{"message":"..."}}
    \\n\\nLiteLLM: model group 'groq-llama' failed with the error above. No fallback was attempted.
(Anthropic's body sometimes as a bytes literal, b'{...}'). The caller gets
    Groq: <the provider's message>
with the answer's status (LiteLLM's: it maps Anthropic's 529 to 503 for chat completions),
and LiteLLM's own errors without their `litellm.<Class>:` prefixes.
"""

from __future__ import annotations

import contextlib
import logging
import re
from typing import Any

import orjson

from gateway.errors import GatewayError

log = logging.getLogger("gateway")

# "<Provider>Exception - " / "<Provider>Error - ": where the provider's own answer starts.
_PROVIDER = re.compile(r"\b([A-Z][A-Za-z]*?)(?:Exception|Error) - ")
_LIBRARY_PREFIX = re.compile(r"^(?:litellm\.)?[A-Za-z]*(?:Error|Exception): ")
_HANDLE_WITH = re.compile(r"\.? Handle with `litellm\.\w+`\.?$")
_LITELLM_SUFFIX = "\n\nLiteLLM:"

# OpenAI's error type and the gateway's code for an upstream status.
_OPENAI_TYPES = {400: "invalid_request_error", 404: "invalid_request_error",
                 413: "invalid_request_error", 429: "rate_limit_error"}  # fmt: skip
_CODES = {400: "invalid_request", 404: "not_found", 408: "provider_timeout",
          413: "request_too_large", 429: "rate_limit_exceeded", 503: "provider_overloaded",
          504: "provider_timeout", 529: "provider_overloaded"}  # fmt: skip


def _provider_message(text: str) -> str | None:
    """The message inside a provider's error body (OpenAI's or Anthropic's shape)."""
    text = text.strip()
    if text.startswith(("b'", 'b"')) and text.endswith(text[1]):
        text = text[2:-1]
    with contextlib.suppress(orjson.JSONDecodeError, AttributeError, TypeError, KeyError):
        error = orjson.loads(text)["error"]
        message = error.get("message") if isinstance(error, dict) else error
        if isinstance(message, str) and message:
            return message
    return text or None


def clean_message(message: str, status: int) -> str:
    """LiteLLM's message without LiteLLM: the provider's own words where there are some."""
    message = message.split(_LITELLM_SUFFIX, 1)[0].strip()
    found = _PROVIDER.search(message)
    if found is not None and found.group(1) not in ("API", "APIConnection", "Internal"):
        provider = found.group(1)
        said = _provider_message(_HANDLE_WITH.sub("", message[found.end() :]))
        if said:
            return f"{provider}: {said}"
    while (prefix := _LIBRARY_PREFIX.match(message)) is not None:
        message = message[prefix.end() :]
    return _HANDLE_WITH.sub("", message).strip() or f"the model's provider answered {status}"


def upstream_error(status: int, headers: Any, body: bytes) -> GatewayError:
    """LiteLLM's non-200 answer as the gateway's error, with the status the caller should see."""
    if status in (401, 403):
        # LiteLLM refused the gateway's own key: a misconfiguration, not the caller's fault.
        log.error("LiteLLM refused the gateway's master key (status %d)", status)
        return GatewayError(502, "the gateway could not authenticate to LiteLLM",
                            type_="server_error", code="upstream_auth")  # fmt: skip
    message, param = f"the model's provider answered {status}", None
    with contextlib.suppress(orjson.JSONDecodeError, AttributeError, TypeError):
        error = orjson.loads(body)["error"]
        message = clean_message(str(error.get("message") or message), status)
        param = error.get("param") if isinstance(error.get("param"), str) else None
    extra: dict[str, str] = {}
    retry_after = upstream_retry_after(headers)
    if status == 429 or retry_after is not None:
        # LiteLLM passes the provider's own header on as llm_provider-retry-after (chat
        # completions only: its /v1/messages drops it, and the caller gets 1 s).
        extra["retry-after"] = retry_after or "1"
    return GatewayError(
        status, message, type_=_OPENAI_TYPES.get(status, "server_error"),
        code=_CODES.get(status, "provider_error" if status >= 500 else "invalid_request"),
        param=param, headers=extra, upstream=True,
    )  # fmt: skip


def upstream_retry_after(headers: Any) -> str | None:
    value = headers.get("retry-after") or headers.get("llm_provider-retry-after")
    return value.strip() if isinstance(value, str) and value.strip().isdigit() else None
