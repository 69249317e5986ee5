"""`python -m bench.passthrough`: the least a Python proxy can do, as a benchmark hop.

The gateway's runtime (uvicorn with httptools and uvloop, an aiohttp client pool, orjson)
with none of its work: no authentication, rate limit, validation, metrics or access log.
It parses the body, adds a `metadata` object, forwards it and relays the answer (streams
chunk by chunk), like the proxies in shared/facts/proxy-floor.md. The gateway's overhead
minus this one's is what the gateway's own features cost; this one's minus nginx's is
what Python costs on this machine. A benchmark baseline only, never deployed.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

import aiohttp
import orjson
import uvicorn
from gateway.asgi import Receive, Scope, Send, read_body

UPSTREAM_ENV = "PASSTHROUGH_UPSTREAM"  # the base URL /v1/chat/completions is posted under
UPSTREAM_KEY_ENV = "PASSTHROUGH_UPSTREAM_KEY"


class Passthrough:
    def __init__(self, upstream: str, key: str) -> None:
        self.url = upstream.rstrip("/") + "/v1/chat/completions"
        self.headers = {"authorization": f"Bearer {key}", "content-type": "application/json"}
        self.session: aiohttp.ClientSession | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["path"] == "/healthz":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})
        else:
            await self._forward(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.session = aiohttp.ClientSession(
                    connector=aiohttp.TCPConnector(limit=256, keepalive_timeout=4),
                    auto_decompress=False,
                    skip_auto_headers=("User-Agent",),
                )
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.session is not None:
                    await self.session.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _forward(self, receive: Receive, send: Send) -> None:
        if self.session is None:  # made at lifespan start-up, before any request
            raise RuntimeError("the pass-through got a request before its start-up")
        body: dict[str, Any] = orjson.loads(await read_body(receive, 1 << 20))
        body["metadata"] = {"passthrough": True}
        async with self.session.post(
            self.url, data=orjson.dumps(body), headers=self.headers
        ) as response:
            headers = [(b"content-type", response.content_type.encode())]
            if body.get("stream"):
                await send({"type": "http.response.start", "status": response.status,
                            "headers": headers})  # fmt: skip
                async for chunk in response.content.iter_any():
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                await send({"type": "http.response.body", "body": b""})
                return
            data = await response.read()
            headers.append((b"content-length", b"%d" % len(data)))
            await send({"type": "http.response.start", "status": response.status,
                        "headers": headers})  # fmt: skip
            await send({"type": "http.response.body", "body": data})


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.passthrough", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    app = Passthrough(os.environ[UPSTREAM_ENV], os.environ[UPSTREAM_KEY_ENV])
    uvicorn.run(app, host=args.host, port=args.port, loop="uvloop", http="httptools",
                lifespan="on", access_log=False, server_header=False,
                log_level="warning")  # fmt: skip


if __name__ == "__main__":
    main()
