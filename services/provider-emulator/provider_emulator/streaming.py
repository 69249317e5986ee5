"""Sending a streamed answer, acting out the stream faults between content frames.

``chunk_delay_ms`` spaces every frame after the first; ``stall_after=n`` and
``reset_after=n`` act once n content frames are on the wire. The reset is a real TCP RST
(SO_LINGER 0, then abort), because a proxy treats a reset differently from a clean close.
"""

import asyncio
import socket
import struct

from aiohttp import web

from provider_emulator.chat import StreamFrames
from provider_emulator.faults import DEFAULT_STALL_S, Fault
from provider_emulator.observe import Observer, RequestRecord

# Before a reset, give the peer a moment to read the frames already sent: some clients
# (aiohttp among them) drop data they buffered but did not yet hand out once a reset arrives.
RESET_SETTLE_S = 0.1
_FLUSH_POLL_S = 0.005


async def send_stream(
    request: web.Request,
    response: web.StreamResponse,
    frames: StreamFrames,
    fault: Fault,
    observer: Observer,
    record: RequestRecord,
) -> None:
    """Write ``frames`` to the prepared ``response``; ConnectionError means the client left."""
    delay_s = (fault.chunk_delay_ms or 0) / 1000
    sent_any = False

    async def send(frame: bytes) -> None:
        nonlocal sent_any
        if sent_any and delay_s:
            await asyncio.sleep(delay_s)
        sent_any = True
        await response.write(frame)

    for frame in frames.preamble:
        await send(frame)
    for sent_count in range(len(frames.content) + 1):
        if sent_count == fault.stall_after:
            await _stall(request, fault.stall_s or DEFAULT_STALL_S, record)
            return
        if sent_count == fault.reset_after:
            await _reset(request, observer, record)
            return
        if sent_count < len(frames.content):
            await send(frames.content[sent_count])
    for frame in frames.closing:
        await send(frame)
    await response.write_eof()


async def _stall(request: web.Request, stall_s: float, record: RequestRecord) -> None:
    """Hold the connection open without sending, then give up and close it (a FIN)."""
    record.stalled = True
    await asyncio.sleep(stall_s)
    if request.transport is not None:
        request.transport.close()


async def _reset(request: web.Request, observer: Observer, record: RequestRecord) -> None:
    transport = request.transport
    if transport is None:  # the client is already gone
        raise ConnectionResetError("client went away before the emulated reset")
    # asyncio offers no event for "write buffer empty", so poll; it is empty almost always.
    while transport.get_write_buffer_size() > 0 and not transport.is_closing():  # noqa: ASYNC110
        await asyncio.sleep(_FLUSH_POLL_S)
    await asyncio.sleep(RESET_SETTLE_S)
    sock = transport.get_extra_info("socket")
    if sock is not None:
        # Linger on, timeout 0: closing now sends RST instead of FIN.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    # Counted before the abort, so the handler cancellation the abort causes is not
    # mistaken for a client disconnect.
    observer.reset_was_sent(record)
    transport.abort()
