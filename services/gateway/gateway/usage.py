"""The tokens of one answer, for the metrics, the access log and tokens-per-minute limits.

From the usage the answer reports: OpenAI's `prompt_tokens`/`completion_tokens`, Anthropic's
`input_tokens` (plus its cache reads and writes, which it counts apart)/`output_tokens`.
Every stream reports it (gateway/streams.py). A stream cut off before its usage came (the
caller left, the provider or LiteLLM broke off, the gateway's idle timeout) is counted from
what was sent: the prompt's tokens as the stream reported them (Anthropic's `message_start`)
or else estimated at CHARS_PER_TOKEN characters of the request's text a token, and one
completion token for each event of content the caller received (a chunk of chat
completions, a `content_block_delta` of Messages), or the stream's own count so far if higher.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

# OpenAI's rule of thumb for English text.
CHARS_PER_TOKEN = 4

_ANTHROPIC_INPUT = ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def token_counts(usage: Mapping[str, Any] | None) -> dict[str, int]:
    """{"prompt": n, "completion": m}, each only where the usage says it."""
    if not usage:
        return {}
    counts: dict[str, int] = {}
    if "prompt_tokens" in usage or "completion_tokens" in usage:
        prompt = _count(usage.get("prompt_tokens"))
        completion = _count(usage.get("completion_tokens"))
    else:
        parts = [_count(usage.get(name)) for name in _ANTHROPIC_INPUT]
        known = [part for part in parts if part is not None]
        prompt = sum(known) if known else None
        completion = _count(usage.get("output_tokens"))
    if prompt is not None:
        counts["prompt"] = prompt
    if completion is not None:
        counts["completion"] = completion
    return counts


def _text_chars(value: Any) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, list):
        return sum(_text_chars(item) for item in value)
    if isinstance(value, dict):
        return sum(_text_chars(item) for key, item in value.items() if key not in ("type", "role"))
    return 0


def estimated_prompt_tokens(body: Mapping[str, Any]) -> int:
    """The prompt's tokens at CHARS_PER_TOKEN characters a token (messages, system, tools)."""
    chars = sum(_text_chars(body.get(name)) for name in ("messages", "system", "tools"))
    return math.ceil(chars / CHARS_PER_TOKEN)


def cut_off_counts(
    usage: Mapping[str, Any] | None, content_events: int, body: Mapping[str, Any]
) -> dict[str, int]:
    """The tokens of a stream that ended before its usage: see the module's docstring."""
    counts = token_counts(usage)
    return {
        # A stream reports 0 input tokens up front where the provider gives them at the end.
        "prompt": counts.get("prompt") or estimated_prompt_tokens(body),
        "completion": max(counts.get("completion", 0), content_events),
    }
