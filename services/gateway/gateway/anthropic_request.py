"""What the gateway sends to LiteLLM's Anthropic-format endpoints (`/v1/messages` and its
`count_tokens`): the caller's Messages API request, validated, minus anything else.

As for chat completions (gateway/forwarding.py), only the Messages API's own fields pass; the
rest is dropped and named. Anthropic's `metadata` keeps only `user_id` (Anthropic defines no
other key; LiteLLM would read trace and session ids from the rest). The gateway's own
metadata goes in `litellm_metadata`, where LiteLLM's `/v1/messages` reads it.
"""

from __future__ import annotations

from typing import Any

from gateway.errors import GatewayError
from gateway.forwarding import LlmRequest

ANTHROPIC_MESSAGES_FIELDS = frozenset({
    "model", "messages", "max_tokens", "system", "stop_sequences", "stream", "temperature",
    "top_p", "top_k", "tools", "tool_choice", "metadata", "thinking", "service_tier",
    "output_config",
})  # fmt: skip
# What LiteLLM's count_tokens reads (litellm/proxy/anthropic_endpoints/endpoints.py,
# _TOKEN_COUNT_FIELDS): anything else would be ignored.
COUNT_TOKENS_FIELDS = frozenset({"model", "messages", "system", "tools"})
ROLES = frozenset({"user", "assistant"})
# The versions of the API Anthropic serves (https://docs.anthropic.com/en/api/versioning).
ANTHROPIC_VERSIONS = frozenset({"2023-06-01", "2023-01-01"})

_TYPES: dict[str, tuple[str, Any]] = {
    "max_tokens": ("an integer", lambda v: isinstance(v, int) and not isinstance(v, bool)),
    "top_k": ("an integer", lambda v: isinstance(v, int) and not isinstance(v, bool)),
    "temperature": ("a number", lambda v: isinstance(v, int | float) and not isinstance(v, bool)),
    "top_p": ("a number", lambda v: isinstance(v, int | float) and not isinstance(v, bool)),
    "stream": ("true or false", lambda v: isinstance(v, bool)),
    "service_tier": ("a string", lambda v: isinstance(v, str)),
    "metadata": ("an object", lambda v: isinstance(v, dict)),
    "thinking": ("an object with a string `type`",
                 lambda v: isinstance(v, dict) and isinstance(v.get("type"), str)),
    "tool_choice": ("an object with a string `type`",
                    lambda v: isinstance(v, dict) and isinstance(v.get("type"), str)),
    "output_config": ("an object", lambda v: isinstance(v, dict)),
    "tools": ("an array", lambda v: isinstance(v, list)),
    "stop_sequences": ("an array of strings",
                       lambda v: isinstance(v, list) and all(isinstance(s, str) for s in v)),
}  # fmt: skip


def _bad(message: str, param: str | None = None) -> GatewayError:
    return GatewayError(400, message, code="invalid_request", param=param)


def checked_version(value: str | None) -> None:
    """`anthropic-version` is required, as by Anthropic; the SDKs always send it."""
    if value is None:
        raise _bad("the `anthropic-version` header is required (e.g. 2023-06-01)",
                   "anthropic-version")  # fmt: skip
    if value not in ANTHROPIC_VERSIONS:
        raise _bad(f"`anthropic-version` must be one of {', '.join(sorted(ANTHROPIC_VERSIONS))}",
                   "anthropic-version")  # fmt: skip


def _blocks_ok(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(block, dict) and isinstance(block.get("type"), str) for block in value)
    )


def _check_messages(messages: Any) -> None:
    if not isinstance(messages, list) or not messages:
        raise _bad("`messages` is required and must be a non-empty array", "messages")
    for index, message in enumerate(messages):
        where = f"messages[{index}]"
        if not isinstance(message, dict):
            raise _bad(f"`{where}` must be an object", where)
        role = message.get("role")
        if not isinstance(role, str) or role not in ROLES:
            raise _bad(f"`{where}.role` must be one of {', '.join(sorted(ROLES))}", f"{where}.role")
        content = message.get("content")
        if not (isinstance(content, str) or _blocks_ok(content)):
            raise _bad(f"`{where}.content` must be a string or a non-empty array of content "
                       "blocks (objects with a string `type`)", f"{where}.content")  # fmt: skip


def _check_fields(payload: dict[str, Any]) -> None:
    for name, (expected, ok) in _TYPES.items():
        value = payload.get(name)
        if value is not None and not ok(value):
            raise _bad(f"`{name}` must be {expected}", name)
    system = payload.get("system")
    if not (system is None or isinstance(system, str) or _blocks_ok(system)):
        raise _bad("`system` must be a string or a non-empty array of text blocks", "system")
    for index, tool in enumerate(payload.get("tools") or ()):
        where = f"tools[{index}]"
        if not (isinstance(tool, dict) and isinstance(tool.get("name"), str) and tool["name"]):
            raise _bad(f"`{where}` must be an object with a non-empty string `name`", where)
        if tool.get("type") in (None, "custom") and not isinstance(tool.get("input_schema"), dict):
            raise _bad(f"`{where}.input_schema` must be a JSON schema object",
                       f"{where}.input_schema")  # fmt: skip
    user_id = (payload.get("metadata") or {}).get("user_id")
    if user_id is not None and not isinstance(user_id, str):
        raise _bad("`metadata.user_id` must be a string", "metadata.user_id")


def _model(payload: Any, what: str) -> str:
    if not isinstance(payload, dict):
        raise _bad(f"the request body must be a JSON object ({what})")
    model = payload.get("model")
    if not isinstance(model, str) or not model:
        raise _bad("`model` is required and must be a non-empty string", "model")
    return model


def parse_messages_request(payload: Any) -> LlmRequest:
    model = _model(payload, "a Messages API request")
    _check_messages(payload.get("messages"))
    if payload.get("max_tokens") is None:
        raise _bad("`max_tokens` is required", "max_tokens")
    _check_fields(payload)
    if payload["max_tokens"] < 1:
        raise _bad("`max_tokens` must be at least 1", "max_tokens")
    body = {k: v for k, v in payload.items() if k in ANTHROPIC_MESSAGES_FIELDS}
    dropped = [k for k in payload if k not in ANTHROPIC_MESSAGES_FIELDS]
    end_user = None
    if "metadata" in body:
        metadata = body.pop("metadata") or {}
        dropped += [f"metadata.{k}" for k in metadata if k != "user_id"]
        if "user_id" in metadata:
            end_user = metadata["user_id"]
            body["metadata"] = {"user_id": end_user}
    return LlmRequest(
        model=model, stream=body.get("stream") is True, body=body,
        dropped_fields=tuple(sorted(dropped)), metadata_field="litellm_metadata",
        end_user=end_user,
    )  # fmt: skip


def parse_count_tokens_request(payload: Any) -> LlmRequest:
    model = _model(payload, "a count_tokens request")
    _check_messages(payload.get("messages"))
    _check_fields({k: v for k, v in payload.items() if k in COUNT_TOKENS_FIELDS})
    body = {k: v for k, v in payload.items() if k in COUNT_TOKENS_FIELDS}
    dropped = tuple(sorted(k for k in payload if k not in COUNT_TOKENS_FIELDS))
    return LlmRequest(model=model, stream=False, body=body, dropped_fields=dropped,
                      metadata_field=None)  # fmt: skip
