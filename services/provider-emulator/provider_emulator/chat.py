"""What the two emulated APIs share: the parsed request (with its tools, tool results and
output format), the interface each API implements and small validators that name the
offending field in their error message."""

import abc
import hmac
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Literal

from aiohttp import web

from provider_emulator.errors import ApiError
from provider_emulator.tokens import Answer, count_tokens

# Tool names as both providers accept them (Anthropic allows up to 128 characters).
TOOL_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")


@dataclass(frozen=True)
class Tool:
    """A tool the caller offers: its name and the JSON schema of its arguments."""

    name: str
    description: str
    schema: dict[str, Any]

    @property
    def tokens(self) -> int:
        """What its definition adds to the input tokens: name, description, schema JSON."""
        return count_tokens(self.name) + count_tokens(self.description) + schema_tokens(self.schema)


@dataclass(frozen=True)
class ToolChoice:
    """The caller's tool_choice, in one vocabulary: OpenAI's "required" is Anthropic's
    "any"; a named tool (OpenAI's function object, Anthropic's "tool") is "required" with
    a name."""

    mode: Literal["auto", "none", "required"] = "auto"
    name: str | None = None


@dataclass(frozen=True)
class ToolResult:
    """One result the last turn sends back: OpenAI's ``tool`` message, Anthropic's
    ``tool_result`` block; named after the tool whose call it answers."""

    tool_name: str
    text: str
    is_error: bool = False


@dataclass(frozen=True)
class OutputFormat:
    """What the answer text must be: free text, any JSON object, or JSON for a schema."""

    kind: Literal["text", "json_object", "json_schema"] = "text"
    schema: dict[str, Any] | None = None


# What the last message of the conversation is: a prompt (a user message with text; a
# trailing system message counts as one), tool results, or an assistant prefill.
LastTurn = Literal["user", "tool_results", "assistant"]


@dataclass(frozen=True)
class ChatRequest:
    """The parts of a valid request the emulator acts on."""

    model: str
    stream: bool
    max_tokens: int | None
    input_tokens: int
    last_user_text: str  # where fault markers are looked for and what the answer echoes
    include_usage: bool = False  # OpenAI's stream_options.include_usage
    tools: tuple[Tool, ...] = ()
    tool_choice: ToolChoice = ToolChoice()
    last_turn: LastTurn = "user"
    tool_results: tuple[ToolResult, ...] = ()  # those of the last turn
    output: OutputFormat = OutputFormat()


@dataclass(frozen=True)
class StreamFrames:
    """A streamed answer as wire-ready frames; faults act between the content frames."""

    preamble: list[bytes]
    content: list[bytes]  # one frame per answer piece (one token each)
    closing: list[bytes]


class ProviderApi(abc.ABC):
    """One emulated provider: its authentication, request validation and response shapes."""

    name: str  # "anthropic" | "openai", as the request log shows it
    # The message a ``status=<code>`` fault answers with, per status; distinctive ("emulated")
    # so tests can find it downstream.
    fault_messages: dict[int, str]

    @abc.abstractmethod
    def check_request(self, request: web.Request) -> None:
        """Raise ApiError for a missing or wrong key or a missing required header."""

    @abc.abstractmethod
    def parse_body(self, body: dict[str, Any]) -> ChatRequest:
        """Validate the JSON body; raise ApiError(400) naming the offending field."""

    def fault_error(self, status: int, retry_after: int | None) -> ApiError:
        """The error a ``status=<code>`` fault answers with, with a distinctive message."""
        message = self.fault_messages.get(status, f"emulated error with status {status}")
        return ApiError(status, message, retry_after=retry_after)

    @abc.abstractmethod
    def error_response(self, error: ApiError, request_id: str) -> web.Response:
        """``error`` in the provider's JSON error shape."""

    @abc.abstractmethod
    def completion(self, chat: ChatRequest, answer: Answer, request_id: str) -> web.Response:
        """The non-streaming answer."""

    @abc.abstractmethod
    def stream_frames(self, chat: ChatRequest, answer: Answer, request_id: str) -> StreamFrames:
        """The streaming answer's frames."""

    @abc.abstractmethod
    def response_headers(self, request_id: str) -> dict[str, str]:
        """Headers every answer carries (the provider's request id)."""


def key_accepted(presented: str | None, accepted: Iterable[str]) -> bool:
    """Constant-time comparison against every accepted key, so timing reveals nothing."""
    if not presented:
        return False
    candidate = presented.encode()
    found = False
    for key in accepted:
        found |= hmac.compare_digest(candidate, key.encode())
    return found


def reason_phrase(status: int) -> str:
    """The status line's phrase; codes outside the HTTP registry (529) get one of their own,
    since an empty phrase trips some HTTP clients."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Overloaded" if status == 529 else "Emulated Error"


def to_json(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def schema_tokens(schema: Any) -> int:
    """Input tokens of a JSON schema (a tool's, a response format's): its compact JSON's."""
    return count_tokens(to_json(schema))


def bad(field: str, problem: str) -> ApiError:
    return ApiError(400, f"{field}: {problem}", param=field)


def require_str(body: dict[str, Any], field: str) -> str:
    if field not in body:
        raise bad(field, "Field required")
    value = body[field]
    if not isinstance(value, str) or not value:
        raise bad(field, "must be a non-empty string")
    return value


def optional_int(body: dict[str, Any], field: str, *, minimum: int) -> int | None:
    value = body.get(field)
    if value is None:
        return None
    # bool is an int subclass in Python, but true is not a token count.
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad(field, "must be an integer")
    if value < minimum:
        raise bad(field, f"must be >= {minimum}")
    return value


def optional_bool(body: dict[str, Any], field: str, *, where: str | None = None) -> bool:
    """``body[field]`` as a boolean (absent: false); ``where`` names a nested field's path."""
    value = body.get(field)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise bad(where or field, "must be a boolean")
    return value


def optional_number(body: dict[str, Any], field: str, low: float, high: float) -> None:
    value = body.get(field)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise bad(field, "must be a number")
    if not low <= value <= high:
        raise bad(field, f"must be between {low:g} and {high:g}")


def text_of_content(content: Any, field: str, part_type: str = "text") -> str:
    """The text of a content that may hold only text (a string or a list of text blocks or
    parts): an OpenAI message, a system prompt, a tool result.

    Images, documents and the like are refused rather than ignored, so a test cannot
    mistake a silently dropped block for a handled one.
    """
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise bad(field, "must be a string or a list of content blocks")
    texts: list[str] = []
    for index, block in enumerate(content):
        where = f"{field}.{index}"
        if not isinstance(block, dict):
            raise bad(where, "must be an object")
        kind = block.get("type")
        if kind != part_type:
            raise bad(f"{where}.type", f"only {part_type!r} blocks are emulated, got {kind!r}")
        text = block.get("text")
        if not isinstance(text, str):
            raise bad(f"{where}.text", "must be a string")
        texts.append(text)
    return "\n".join(texts)


def tool_name(value: Any, field: str, pattern: re.Pattern[str] = TOOL_NAME) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise bad(field, f"must be a string matching {pattern.pattern!r}")
    return value


def json_schema(value: Any, field: str) -> dict[str, Any]:
    """A JSON schema must be an object; what it says is the caller's business, as at the
    providers (the emulator builds a value from any schema)."""
    if not isinstance(value, dict):
        raise bad(field, "must be a JSON schema object")
    return value


def checked_choice(choice: ToolChoice, tools: tuple[Tool, ...], field: str) -> ToolChoice:
    """A forced choice needs tools, and a named one a tool of that name."""
    if choice.mode == "required" and not tools:
        raise bad(field, "a forced tool choice needs tools")
    if choice.name is not None and choice.name not in {tool.name for tool in tools}:
        raise bad(field, f"names tool {choice.name!r}, which is not among the tools")
    return choice
