"""``python -m provider_emulator``: start the emulator (see README.md)."""

import logging
import os
import sys

from aiohttp import web

from provider_emulator.app import make_app
from provider_emulator.config import ConfigError, load_settings

# A stand-in has nothing to drain; a long stall must not delay a test's teardown.
SHUTDOWN_TIMEOUT_S = 1.0


def main(argv: list[str] | None = None) -> int:
    try:
        settings = load_settings(argv, os.environ)
    except ConfigError as exc:
        print(f"provider-emulator: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(name)s %(message)s"
    )
    logging.getLogger("provider_emulator").info(
        "provider emulator (a test stand-in) listening on http://%s:%d",
        settings.host,
        settings.port,
    )
    web.run_app(
        make_app(settings),
        host=settings.host,
        port=settings.port,
        shutdown_timeout=SHUTDOWN_TIMEOUT_S,
        # The access_log middleware writes the one line per request; aiohttp's own would
        # duplicate it.
        access_log=None,
        # Cancel a handler when its client disconnects: that is how client_disconnects
        # notices a proxy abandoning a stalled or slow upstream call.
        handler_cancellation=True,
        print=None,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
