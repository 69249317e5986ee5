"""The request flow both emulated APIs share.

Order, as at the real providers: authentication, required headers, body validation; then
the emulator's own steps: fault directives, the answer (text or a tool call, decided in
replies.py), ``latency_ms``, a ``status`` fault, sending it.
A client that goes away at any point is counted in ``client_disconnects``: with handler
cancellation on, aiohttp cancels this coroutine when the connection drops, and a write to a
closed connection raises ConnectionError.
"""

import asyncio
import json
import uuid
from typing import Any

from aiohttp import web

from provider_emulator.chat import ProviderApi
from provider_emulator.errors import ApiError
from provider_emulator.faults import DEFAULT_RETRY_AFTER_S, FAULT_HEADER, Fault, parse_fault
from provider_emulator.observe import Observer, RequestRecord
from provider_emulator.replies import compose_answer
from provider_emulator.streaming import send_stream

RECORD_KEY = "provider_emulator.record"  # request storage key, read by the access log


async def handle_chat(
    api: ProviderApi, observer: Observer, request: web.Request
) -> web.StreamResponse:
    record = observer.begin(api.name, request.path, request.headers)
    request[RECORD_KEY] = record
    try:
        return await _answer(api, observer, request, record)
    except asyncio.CancelledError:
        observer.client_disconnected(record)
        raise
    finally:
        observer.finished()


async def _answer(
    api: ProviderApi, observer: Observer, request: web.Request, record: RequestRecord
) -> web.StreamResponse:
    request_id = f"req_{uuid.uuid4().hex[:24]}"
    try:
        api.check_request(request)
        body = await _read_json(request)
        _note_body(record, body)
        chat = api.parse_body(body)
        fault = parse_fault(
            request.headers.get(FAULT_HEADER), chat.last_user_text, stream=chat.stream
        )
        record.fault = fault.as_dict()
        answer = compose_answer(chat, fault)
        _check_fits(fault, len(answer.pieces))
        if fault.latency_ms:
            await asyncio.sleep(fault.latency_ms / 1000)
        if fault.status is not None:
            retry_after = fault.retry_after
            if fault.status == 429 and retry_after is None:
                retry_after = DEFAULT_RETRY_AFTER_S
            raise api.fault_error(fault.status, retry_after)
    except ApiError as error:
        record.status = error.status
        return api.error_response(error, request_id)

    record.status = 200
    record.tool_call = answer.tool_name
    if not chat.stream:
        return api.completion(chat, answer, request_id)

    response = web.StreamResponse(
        headers={
            **api.response_headers(request_id),
            "content-type": "text/event-stream; charset=utf-8",
            "cache-control": "no-cache",
        }
    )
    frames = api.stream_frames(chat, answer, request_id)
    observer.open_streams += 1
    try:
        await response.prepare(request)
        await send_stream(request, response, frames, fault, observer, record)
    except ConnectionError:
        observer.client_disconnected(record)
    finally:
        observer.open_streams -= 1
    return response


async def _read_json(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ApiError(400, "request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, "request body must be a JSON object")
    return body


def _note_body(record: RequestRecord, body: dict[str, Any]) -> None:
    """Record what the body looked like, even if it turns out invalid."""
    record.body_keys = sorted(body)
    if isinstance(body.get("model"), str):
        record.model = body["model"]
    record.stream = body.get("stream") is True
    record.metadata = body.get("metadata")
    record.user = body.get("user")


def _check_fits(fault: Fault, pieces: int) -> None:
    """A stream fault after more chunks than the answer has would never fire: say so."""
    for key, after in (("stall_after", fault.stall_after), ("reset_after", fault.reset_after)):
        if after is not None and after > pieces:
            raise ApiError(
                400,
                f"emulator fault {key}={after} exceeds the {pieces} content chunks of this answer",
            )
