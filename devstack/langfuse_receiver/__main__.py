"""`python -m devstack.langfuse_receiver`: run the Langfuse OTLP receiver (a test stand-in).

Keys come from LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY, never from argv (argv shows in
`ps`). The `/_receiver/*` endpoints have no auth: keep the default --host 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
import os
import signal
import sys
from collections.abc import Sequence

from aiohttp import web

from devstack.langfuse_receiver.app import OTLP_PATH, RUNNER_OPTIONS, create_app

log = logging.getLogger("devstack.langfuse_receiver")
KEY_VARIABLES = ("LANGFUSE_PUBLIC_KEY", "LANGFUSE_SECRET_KEY")


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


async def _serve(app: web.Application, host: str, port: int) -> None:
    runner = web.AppRunner(app, shutdown_timeout=5.0, **RUNNER_OPTIONS)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        urls = ", ".join(f"http://{address[0]}:{address[1]}" for address in runner.addresses)
        log.info("Langfuse OTLP receiver (test stand-in) on %s, exports to %s", urls, OTLP_PATH)
        if not _is_loopback(host):
            log.warning("/_receiver/* has no auth: never expose this stand-in beyond loopback")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()
        log.info("stopping")
    finally:
        await runner.cleanup()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devstack.langfuse_receiver",
        description="Receive Langfuse OTLP trace exports and keep the spans for tests. "
        "Keys: LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY in the environment.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    parser.add_argument("--port", type=int, default=3000, help="port to bind (3000)")
    args = parser.parse_args(argv)

    missing = [name for name in KEY_VARIABLES if not os.environ.get(name)]
    if missing:
        print(
            f"langfuse_receiver: error: {' and '.join(missing)} must be set in the environment",
            file=sys.stderr,
        )
        return 2

    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s"
    )
    app = create_app(os.environ[KEY_VARIABLES[0]], os.environ[KEY_VARIABLES[1]])
    try:
        asyncio.run(_serve(app, args.host, args.port))
    except OSError as exc:
        print(
            f"langfuse_receiver: error: cannot listen on {args.host}:{args.port}: {exc.strerror}",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
