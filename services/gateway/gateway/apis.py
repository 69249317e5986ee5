"""The LLM APIs the gateway serves, each on LiteLLM's endpoint of the same path: how a request
is read, and which API's error and stream shapes the answer takes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gateway.anthropic_request import parse_count_tokens_request, parse_messages_request
from gateway.errors import Shape
from gateway.forwarding import LlmRequest, parse_chat_request


@dataclass(frozen=True, slots=True)
class Api:
    # In the access log, the trace metadata and the unsent-fields table.
    name: str
    path: str
    shape: Shape
    parse: Callable[[Any], LlmRequest]
    # Whether an answer uses tokens (count_tokens only counts them).
    uses_tokens: bool = True


CHAT = Api("chat.completions", "/v1/chat/completions", "openai", parse_chat_request)
MESSAGES = Api("messages", "/v1/messages", "anthropic", parse_messages_request)
COUNT_TOKENS = Api(
    "messages.count_tokens", "/v1/messages/count_tokens", "anthropic", parse_count_tokens_request,
    uses_tokens=False,
)  # fmt: skip
BY_PATH = {api.path: api for api in (CHAT, MESSAGES, COUNT_TOKENS)}
