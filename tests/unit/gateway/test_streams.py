"""What the relay reads from a stream on its way to the caller (gateway/streams.py): whole
events, the usage, the usage chunk kept from a caller that did not ask for it, and how the
stream ended. The events are LiteLLM 1.110.2's, as recorded from the local stack."""

from __future__ import annotations

import orjson
import pytest
from gateway.streams import BROKEN_CODE, ChatStreamReader, MessagesStreamReader

HEAD = b'data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,'
CONTENT = [HEAD + b'"delta":{"content":"%s"}}]}\n\n' % word for word in (b"Hi", b" there")]
FINISH = HEAD + b'"finish_reason":"stop","delta":{}}]}\n\n'
USAGE = (
    b'data: {"id":"c1","object":"chat.completion.chunk","choices":[],"usage":'
    b'{"completion_tokens":2,"prompt_tokens":1,"total_tokens":3}}\n\n'
)
DONE = b"data: [DONE]\n\n"
# What LiteLLM sends without include_usage, and with it: the same, plus the usage chunk.
WITHOUT_USAGE = b"".join([*CONTENT, FINISH, DONE])
WITH_USAGE = b"".join([*CONTENT, FINISH, USAGE, DONE])


def feed_all(reader: ChatStreamReader | MessagesStreamReader, data: bytes, size: int) -> bytes:
    return b"".join(reader.feed(data[i : i + size]) for i in range(0, len(data), size))


@pytest.mark.parametrize("size", [1, 7, 64, 100_000])
def test_a_caller_that_did_not_ask_gets_the_stream_without_the_usage_chunk(size: int) -> None:
    reader = ChatStreamReader(hide_usage=True)
    assert feed_all(reader, WITH_USAGE, size) == WITHOUT_USAGE
    assert reader.usage == {"completion_tokens": 2, "prompt_tokens": 1, "total_tokens": 3}
    assert reader.state == "done"


def test_a_caller_that_asked_gets_it_unchanged() -> None:
    reader = ChatStreamReader(hide_usage=False)
    assert feed_all(reader, WITH_USAGE, 13) == WITH_USAGE
    assert reader.usage is not None
    assert reader.usage["completion_tokens"] == 2


def test_only_whole_events_go_out_and_content_events_are_counted() -> None:
    reader = ChatStreamReader()
    assert reader.feed(CONTENT[0][:20]) == b""
    assert reader.feed(CONTENT[0][20:] + CONTENT[1][:5]) == CONTENT[0]
    assert reader.feed(CONTENT[1][5:]) == CONTENT[1]
    assert reader.content_events == 2
    assert reader.state == "open"  # no [DONE]: a cut-off stream


def test_litellms_error_event_is_replaced_by_the_gateways() -> None:
    litellm_error = (
        b'data: {"error": {"message": "litellm.APIConnectionError: APIConnectionError: '
        b"GroqException - Response payload is not completed: <TransferEncodingError: 400>. "
        b'ConnectionResetError(104, \'Connection reset by peer\')", "code": "500"}}\n\n'
    )
    reader = ChatStreamReader(hide_usage=True)
    out = feed_all(reader, CONTENT[0] + litellm_error + DONE, 16)
    assert reader.state == "broken"
    events = out.split(b"\n\n")
    error = orjson.loads(events[1].removeprefix(b"data: "))["error"]
    assert error["code"] == BROKEN_CODE
    assert error["message"] == "the provider's stream broke off before it finished " + (
        "(connection reset)"
    )
    assert b"litellm" not in out.lower()
    assert out.endswith(DONE)


def _event(kind: str, data: object) -> bytes:
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


MESSAGE_START = _event("message_start", {"type": "message_start", "message": {
    "id": "msg_1", "usage": {"input_tokens": 12, "output_tokens": 1}}})  # fmt: skip
DELTA = _event("content_block_delta", {"type": "content_block_delta", "index": 0,
                                       "delta": {"type": "text_delta", "text": "Hi"}})  # fmt: skip
MESSAGE_DELTA = _event("message_delta", {"type": "message_delta",
                                         "delta": {"stop_reason": "end_turn"},
                                         "usage": {"output_tokens": 7}})  # fmt: skip
STOP = _event("message_stop", {"type": "message_stop"})


def test_a_messages_stream_passes_unchanged_and_its_usage_is_merged() -> None:
    stream = MESSAGE_START + DELTA + DELTA + MESSAGE_DELTA + STOP
    reader = MessagesStreamReader()
    assert feed_all(reader, stream, 9) == stream
    # input from message_start, output from message_delta (cumulative, so it wins).
    assert reader.usage == {"input_tokens": 12, "output_tokens": 7}
    assert reader.content_events == 2
    assert reader.state == "done"


def test_a_messages_stream_that_broke_ends_with_the_gateways_error_event() -> None:
    litellm_error = _event("error", {"type": "error", "error": {
        "type": "api_error", "message": "Response payload is not completed"}})  # fmt: skip
    reader = MessagesStreamReader()
    out = reader.feed(MESSAGE_START + DELTA + litellm_error)
    assert reader.state == "broken"
    last = out.split(b"\n\n")[-2]
    assert last.startswith(b"event: error\ndata: ")
    assert orjson.loads(last.split(b"data: ", 1)[1]) == {
        "type": "error",
        "error": {
            "type": "api_error",
            "message": "the provider's stream broke off before it finished",
        },
    }
    assert reader.usage == {"input_tokens": 12, "output_tokens": 1}
