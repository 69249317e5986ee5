"""The aiohttp application: routes, the one-line access log and the control endpoints.

The control endpoints (/_emulator/...) have no authentication by design: this is a test
stand-in and must only ever listen on loopback or inside a throwaway test cluster.
"""

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from provider_emulator.anthropic_api import AnthropicApi
from provider_emulator.chat import ProviderApi
from provider_emulator.config import Settings
from provider_emulator.handler import RECORD_KEY, handle_chat
from provider_emulator.observe import Observer, RequestRecord
from provider_emulator.openai_api import OpenAiApi

OBSERVER_KEY = web.AppKey("observer", Observer)
# Generous: the emulator must not be the reason a big-prompt test fails.
MAX_BODY_BYTES = 16 * 1024 * 1024

access_logger = logging.getLogger("provider_emulator.access")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def access_log(request: web.Request, handler: Handler) -> web.StreamResponse:
    """One line per request: method, path, status, latency. Never bodies or header values."""
    started = time.perf_counter()
    status: int | str = "-"
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    except asyncio.CancelledError:
        status = "cancelled"
        raise
    finally:
        record: RequestRecord | None = request.get(RECORD_KEY)
        note = ""
        if record is not None:
            if record.status is not None:
                status = record.status
            note = _outcome(record)
        elapsed_ms = (time.perf_counter() - started) * 1000
        # raw_path keeps percent-escapes, so a crafted path cannot forge extra log lines.
        access_logger.info(
            "%s %s %s %.1fms%s", request.method, request.rel_url.raw_path, status, elapsed_ms, note
        )


def _outcome(record: RequestRecord) -> str:
    if record.reset_sent:
        return " reset-sent"
    if record.disconnected:
        return " client-disconnected"
    if record.stalled:
        return " stalled"
    return ""


async def healthz(request: web.Request) -> web.Response:
    del request
    return web.json_response({"status": "ok"})


async def list_requests(request: web.Request) -> web.Response:
    return web.json_response(request.app[OBSERVER_KEY].requests_json())


async def stats(request: web.Request) -> web.Response:
    return web.json_response(request.app[OBSERVER_KEY].stats_json())


async def reset(request: web.Request) -> web.Response:
    observer = request.app[OBSERVER_KEY]
    observer.clear()
    return web.json_response(observer.stats_json())


def _chat_route(api: ProviderApi, observer: Observer) -> Handler:
    return functools.partial(handle_chat, api, observer)


async def _on_shutdown(app: web.Application) -> None:
    app[OBSERVER_KEY].shutting_down = True


def make_app(settings: Settings) -> web.Application:
    observer = Observer()
    app = web.Application(middlewares=[access_log], client_max_size=MAX_BODY_BYTES)
    app[OBSERVER_KEY] = observer
    anthropic = _chat_route(AnthropicApi(settings.anthropic_keys), observer)
    groq = _chat_route(OpenAiApi(settings.groq_keys), observer)
    app.add_routes(
        [
            web.post("/v1/messages", anthropic),
            # LiteLLM's Groq provider calls {api_base}/chat/completions with api_base
            # https://api.groq.com/openai/v1; plain /v1 serves clients configured OpenAI-style.
            web.post("/openai/v1/chat/completions", groq),
            web.post("/v1/chat/completions", groq),
            web.get("/healthz", healthz),
            web.get("/_emulator/requests", list_requests),
            web.get("/_emulator/stats", stats),
            web.post("/_emulator/reset", reset),
        ]
    )
    app.on_shutdown.append(_on_shutdown)
    return app
