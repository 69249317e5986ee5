"""`python -m gateway`: serve the gateway with uvicorn (httptools, uvloop) until SIGTERM.

On SIGTERM uvicorn stops accepting, lets in-flight requests finish within
GATEWAY_SHUTDOWN_GRACE_S, then runs the app's shutdown (closing the pool) and exits.
"""

from __future__ import annotations

import logging
import sys

import uvicorn
from pydantic import ValidationError

from gateway.app import Gateway
from gateway.clients import ClientRegistry, ClientsFileError
from gateway.ratelimit import RateLimiter, connect_redis
from gateway.retry import RetryPolicy
from gateway.settings import GatewaySettings
from gateway.upstream import Upstream


def build(settings: GatewaySettings) -> Gateway:
    redis = connect_redis(
        settings.redis_url,
        settings.redis_password.get_secret_value() if settings.redis_password else None,
        settings.redis_timeout_s,
    )
    return Gateway(
        clients=ClientRegistry.load(settings.clients_file),
        upstream=Upstream(
            settings.litellm_url,
            settings.litellm_master_key.get_secret_value(),
            connect_timeout_s=settings.upstream_connect_timeout_s,
            timeout_s=settings.upstream_timeout_s,
            max_connections=settings.upstream_max_connections,
        ),
        limiter=RateLimiter(
            redis,
            fail_open=settings.rate_limit_fail_open,
            log_interval_s=settings.degraded_log_interval_s,
            ahead_s=settings.rate_limit_ahead_s,
        ),
        max_body_bytes=settings.max_body_bytes,
        stream_idle_timeout_s=settings.stream_idle_timeout_s,
        health_probe_interval_s=settings.health_probe_interval_s,
        retry=RetryPolicy(
            attempts=settings.upstream_attempts,
            max_wait_s=settings.retry_max_wait_s,
            budget_s=settings.retry_budget_s,
        ),
    )


def _settings_problem(error: ValidationError) -> str:
    fields = ", ".join(
        "GATEWAY_" + "_".join(str(p) for p in e["loc"]).upper() + f" ({e['msg']})"
        for e in error.errors(include_input=False)
    )
    return f"gateway: invalid configuration: {fields}"


def main() -> int:
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr,
        format='{"ts": "%(asctime)s", "level": "%(levelname)s", "logger": "%(name)s", '
        '"message": "%(message)s"}',
    )  # fmt: skip
    try:
        settings = GatewaySettings()  # type: ignore[call-arg]  # filled from the environment
        app = build(settings)
    except ValidationError as error:
        print(_settings_problem(error), file=sys.stderr)
        return 2
    except ClientsFileError as error:
        print(f"gateway: {error}", file=sys.stderr)
        return 2
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,  # the app writes its own structured line per request
        server_header=False,
        timeout_keep_alive=30,
        timeout_graceful_shutdown=int(settings.shutdown_grace_s),
        backlog=2048,
    )
    uvicorn.Server(config).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
