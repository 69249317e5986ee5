"""Schemathesis hooks for the gateway fuzz test (loaded through SCHEMATHESIS_HOOKS)."""

from __future__ import annotations

from typing import Any

import schemathesis


def _header(response: Any, name: str) -> str | None:
    value = response.headers.get(name)
    if isinstance(value, list):
        return value[0] if value else None
    return value if isinstance(value, str) else None


@schemathesis.check
def no_server_error_from_the_gateway(ctx: Any, response: Any, case: Any) -> None:
    """A 5xx is allowed only when LiteLLM or the provider produced it (the gateway passes
    those on and marks them `x-gateway-error-source: upstream`)."""
    if response.status_code >= 500 and _header(response, "x-gateway-error-source") != "upstream":
        raise AssertionError(f"the gateway itself answered {response.status_code}")
