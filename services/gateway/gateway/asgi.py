"""The few ASGI helpers the gateway needs; no framework sits between a request and its answer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from typing import Any

from gateway.errors import GatewayError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
RawHeaders = list[tuple[bytes, bytes]]


def request_headers(scope: Scope, wanted: Iterable[bytes]) -> dict[bytes, str]:
    """The request headers named in `wanted` (lower-case), last value wins."""
    names = wanted if isinstance(wanted, frozenset) else frozenset(wanted)
    return {name: value.decode("latin-1") for name, value in scope["headers"] if name in names}


def raw_headers(headers: Mapping[str, str]) -> RawHeaders:
    return [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]


async def send_response(
    send: Send,
    status: int,
    body: bytes,
    headers: Mapping[str, str],
    content_type: bytes = b"application/json",
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                # A known length spares the chunked encoding's second write per answer.
                (b"content-length", b"%d" % len(body)),
                *raw_headers(headers),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def read_body(receive: Receive, limit: int) -> bytes:
    """The whole request body, or 413 as soon as it passes `limit` bytes."""
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks)


def too_large(limit: int) -> GatewayError:
    return GatewayError(
        413,
        f"the request body is larger than the limit of {limit} bytes",
        code="request_too_large",
    )


class ClientGone(Exception):
    """The caller disconnected before the request was read."""
