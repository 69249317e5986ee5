"""The connection pool to LiteLLM: aiohttp's client, kept alive and shared by all requests.

aiohttp rather than httpx: on this hardware httpx's async pool fell over under sustained
pass-through load where aiohttp's held (shared/facts/proxy-floor.md). Everything
client-specific stays in this module, so the choice can be swapped in one place.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import aiohttp

from gateway.errors import GatewayError

# Below uvicorn's default keep-alive (5 s) in front of LiteLLM, so the pool never reuses a
# connection that LiteLLM is about to close under it.
KEEPALIVE_S = 4.0


def unreachable() -> GatewayError:
    return GatewayError(
        503,
        "LiteLLM is unreachable; retry shortly",
        type_="server_error",
        code="upstream_unavailable",
        headers={"retry-after": "1"},
    )


def timed_out(seconds: float) -> GatewayError:
    return GatewayError(
        504,
        f"LiteLLM did not answer within {seconds:g} s",
        type_="server_error",
        code="upstream_timeout",
    )


def broken() -> GatewayError:
    return GatewayError(
        502,
        "LiteLLM closed the connection before answering",
        type_="server_error",
        code="upstream_closed",
    )


class Upstream:
    def __init__(
        self,
        base_url: str,
        master_key: str,
        *,
        connect_timeout_s: float,
        timeout_s: float,
        max_connections: int,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._auth = f"Bearer {master_key}"
        self.timeout_s = timeout_s
        self._connect_timeout_s = connect_timeout_s
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(
            limit=self._max_connections, keepalive_timeout=KEEPALIVE_S, ttl_dns_cache=60
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(
                total=None, connect=self._connect_timeout_s, sock_connect=self._connect_timeout_s
            ),
            # Pass bytes through as LiteLLM sent them; the caller decompresses if it asked.
            auto_decompress=False,
            skip_auto_headers=("User-Agent",),
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("Upstream.start() was not awaited")
        return self._session

    async def post(self, path: str, body: bytes, request_id: str) -> aiohttp.ClientResponse:
        """POST to one of LiteLLM's LLM endpoints; returns once its status and headers arrived."""
        headers: Mapping[str, str] = {
            "authorization": self._auth,
            "content-type": "application/json",
            "x-request-id": request_id,
        }
        try:
            async with asyncio.timeout(self.timeout_s):
                return await self.session.post(self.base_url + path, data=body, headers=headers)
        except TimeoutError:
            raise timed_out(self.timeout_s) from None
        except aiohttp.ClientConnectorError:
            raise unreachable() from None
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError):
            raise broken() from None

    async def alive(self) -> bool:
        try:
            async with (
                asyncio.timeout(2),
                self.session.get(self.base_url + "/health/liveliness") as response,
            ):
                return response.status == 200
        except (TimeoutError, aiohttp.ClientError, OSError):
            return False
