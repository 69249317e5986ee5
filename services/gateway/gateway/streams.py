"""What the relay reads from a stream on its way to the caller: whole SSE events (a read
that ends inside an event keeps that event's start until the rest arrives; callers act on
whole events only), the usage, how many content events the caller got, and how it ended.

The look at each block of events is a byte search; only the few events that carry usage or
an error are parsed. Two flavours:
- chat completions (OpenAI chunks, then `data: [DONE]`). The gateway asks every stream for
  its usage chunk (`"choices":[]` with `usage`, just before `[DONE]`), and removes it for a
  caller that did not ask: the rest of the stream is byte for byte what LiteLLM sends without
  `include_usage`.
- Anthropic Messages (`event: <type>` / `data: {...}`, ending with `message_stop`): usage
  comes in `message_start` (input) and `message_delta` (output, cumulative).
LiteLLM's own error event (a provider's stream that broke mid-way) is replaced by the
gateway's, which says so without LiteLLM's wording.
"""

from __future__ import annotations

import contextlib
from typing import Any, Literal

import orjson

from gateway.errors import SSE_DONE, Shape, stream_error_event

State = Literal["open", "done", "broken"]

BROKEN_MESSAGE = "the provider's stream broke off before it finished"
BROKEN_CODE = "provider_stream_broken"


def _data(event: bytes) -> Any:
    """The JSON of an event's `data:` line, or None."""
    for line in event.split(b"\n"):
        if line.startswith(b"data: {"):
            with contextlib.suppress(orjson.JSONDecodeError):
                return orjson.loads(line[6:])
    return None


def _broken_message(litellm_event: bytes) -> str:
    reset = b"reset by peer" in litellm_event or b"ConnectionResetError" in litellm_event
    return BROKEN_MESSAGE + (" (connection reset)" if reset else "")


class StreamReader:
    """Feed it what LiteLLM sends; it returns what the caller gets, and keeps the tally.

    One method call and a few byte searches per read (the hot path): the flavour is in the
    patterns; only a block holding one of `_looked_at` has its events parsed."""

    shape: Shape
    _content: bytes  # counted: one per content event
    _done: bytes  # the stream's last event
    _looked_at: tuple[bytes, bytes]  # usage, error

    def __init__(self, *, hide_usage: bool = False) -> None:
        self.hide_usage = hide_usage
        self.usage: dict[str, Any] | None = None
        self.content_events = 0
        self.state: State = "open"
        self._pending = b""

    def feed(self, data: bytes) -> bytes:
        if self._pending:
            data, self._pending = self._pending + data, b""
        if not data.endswith(b"\n\n"):  # LiteLLM writes whole events: rarely taken
            end = data.rfind(b"\n\n") + 2
            if end < 2:
                self._pending = data
                return b""
            data, self._pending = data[:end], data[end:]
        self.content_events += data.count(self._content)
        usage, error = self._looked_at
        if usage in data or error in data:
            data = b"".join(self._event(e + b"\n\n") for e in data.split(b"\n\n") if e)
        if self.state == "open" and self._done in data[-64:]:
            self.state = "done"
        return data

    def _event(self, event: bytes) -> bytes:
        """One event that may carry usage or an error: what the caller gets of it."""
        raise NotImplementedError


class ChatStreamReader(StreamReader):
    shape: Shape = "openai"
    _content = b"data: {"
    _done = SSE_DONE
    _looked_at = (b'"usage":{', b'data: {"error"')

    def _event(self, event: bytes) -> bytes:
        if event.startswith(b'data: {"error"'):
            self.state = "broken"
            return stream_error_event("openai", _broken_message(event), BROKEN_CODE, 502)
        if b'"usage":{' not in event:
            return event
        chunk = _data(event)
        if not isinstance(chunk, dict) or not isinstance(chunk.get("usage"), dict):
            return event
        self.usage = chunk["usage"]
        self.content_events -= 1
        return b"" if self.hide_usage and chunk.get("choices") == [] else event


class MessagesStreamReader(StreamReader):
    shape: Shape = "anthropic"
    _content = b"event: content_block_delta"
    _done = b"event: message_stop"
    _looked_at = (b'"usage"', b"event: error")

    def _event(self, event: bytes) -> bytes:
        if event.startswith(b"event: error"):
            self.state = "broken"
            return stream_error_event("anthropic", _broken_message(event), BROKEN_CODE, 500)
        if event.startswith(b"event: message_start"):
            usage = ((_data(event) or {}).get("message") or {}).get("usage")
        elif event.startswith(b"event: message_delta"):
            usage = (_data(event) or {}).get("usage")
        else:
            return event
        if isinstance(usage, dict):
            # message_delta's counts are cumulative and come last: they win.
            self.usage = {**(self.usage or {}), **usage}
        return event


_READERS: dict[Shape, type[StreamReader]] = {
    "openai": ChatStreamReader,
    "anthropic": MessagesStreamReader,
}


def stream_reader(shape: Shape, *, hide_usage: bool) -> StreamReader:
    """The reader of an API's streams (Anthropic's carry their usage in-band: none to hide)."""
    return _READERS[shape](hide_usage=hide_usage and shape == "openai")
