"""A small synchronous client for the receiver's inspection endpoints (standard library only)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any, Literal

SpanPredicate = Callable[[dict[str, Any]], bool]
# How many spans GET /_receiver/spans answers when no limit is given: the latest ones. A
# few minutes of traffic is megabytes of spans; a person reading them wants the last few.
DEFAULT_SPANS_LIMIT = 20


class ReceiverError(RuntimeError):
    """The receiver answered an inspection request with an error status."""


class ReceiverClient:
    """Reads what the receiver got, e.g. `ReceiverClient("http://127.0.0.1:3000").spans()`."""

    def __init__(self, base_url: str, *, timeout: float = 5.0) -> None:
        if urllib.parse.urlsplit(base_url).scheme not in ("http", "https"):
            raise ValueError(f"base_url must be an http(s) URL, got {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def _call(self, method: str, path: str, payload: dict[str, Any] | None = None) -> Any:
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(  # noqa: S310 -- scheme checked in __init__
            self.base_url + path, data=data, method=method
        )
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                return json.load(response)
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")
            raise ReceiverError(f"{method} {path} -> {exc.code}: {detail}") from None

    def spans(
        self,
        *,
        session_id: str | None = None,
        trace_id: str | None = None,
        name: str | None = None,
        attribute: str | None = None,
        value: str | None = None,
        limit: int = 0,
    ) -> list[dict[str, Any]]:
        """Stored spans that match every filter given, oldest first: all of them unless
        `limit` asks for the latest N (the endpoint itself answers the latest
        DEFAULT_SPANS_LIMIT when asked without one). `session_id` matches the span's
        session.id (or langfuse.session.id); `attribute` with `value` matches any attribute
        (non-string values compare as JSON, e.g. "42", "true")."""
        filters = {
            "session_id": session_id,
            "trace_id": trace_id,
            "name": name,
            "attribute": attribute,
            "value": value,
            "limit": str(limit),
        }
        query = urllib.parse.urlencode({k: v for k, v in filters.items() if v is not None})
        spans: list[dict[str, Any]] = self._call("GET", f"/_receiver/spans?{query}")["spans"]
        return spans

    def clear(self) -> int:
        """Forget every stored span (counters are kept); returns how many were dropped."""
        cleared: int = self._call("DELETE", "/_receiver/spans")["cleared"]
        return cleared

    def stats(self) -> dict[str, int]:
        """Counters since start: requests, accepted_requests, spans, rejected_auth,
        rejected_parse, rejected_content_type, errored, hung, hanging, dropped_spans,
        stored_spans."""
        stats: dict[str, int] = self._call("GET", "/_receiver/stats")
        return stats

    def mode(self) -> str:
        mode: str = self._call("GET", "/_receiver/mode")["mode"]
        return mode

    def set_mode(self, mode: Literal["normal", "hang", "error"]) -> None:
        """`hang`: exports get no answer (until normal, or 504 after 120 s); `error`: 503.
        Spans sent in either mode are not stored."""
        self._call("POST", "/_receiver/mode", {"mode": mode})

    def healthy(self) -> bool:
        try:
            return bool(self._call("GET", "/healthz"))
        except (OSError, ReceiverError):  # URLError and timeouts are OSErrors
            return False

    def wait_until_healthy(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.healthy():
            if time.monotonic() > deadline:
                raise TimeoutError(f"receiver at {self.base_url} not healthy after {timeout} s")
            time.sleep(0.05)

    def wait_for_spans(
        self,
        predicate: SpanPredicate | None = None,
        *,
        timeout: float = 15.0,
        min_count: int = 1,
        interval: float = 0.2,
        session_id: str | None = None,
        trace_id: str | None = None,
        name: str | None = None,
        attribute: str | None = None,
        value: str | None = None,
    ) -> list[dict[str, Any]]:
        """Poll until at least `min_count` stored spans match the filters and `predicate`;
        return all matching spans, or raise TimeoutError saying what did arrive.

        The default timeout covers LiteLLM's ~1 s flush plus its 1/2/4 s export retries."""
        deadline = time.monotonic() + timeout
        while True:
            spans = self.spans(
                session_id=session_id,
                trace_id=trace_id,
                name=name,
                attribute=attribute,
                value=value,
            )
            matches = [span for span in spans if predicate is None or predicate(span)]
            if len(matches) >= min_count:
                return matches
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{len(matches)} of {min_count} wanted spans after {timeout} s "
                    f"({len(spans)} matched the filters; receiver stats {self.stats()})"
                )
            time.sleep(interval)
