"""Fault directives: which failure a request asks the emulator to act out.

Proxies rewrite request bodies and drop unknown headers, so the primary channel is text
that survives any proxy: ``[[emulator:key=value,key=value]]`` markers in the last user
message. Direct callers may send the same ``key=value,...`` list in the
``x-emulator-fault`` header. Anything unknown or malformed is a 400: a stand-in that
silently ignored a typo would let a test pass without exercising the fault it names.
"""

import re
from dataclasses import asdict, dataclass
from typing import Any

from provider_emulator.errors import ApiError

FAULT_HEADER = "x-emulator-fault"
MARKER_PATTERN = re.compile(r"\[\[emulator:([^\]]*)\]\]")

DEFAULT_RETRY_AFTER_S = 1
DEFAULT_STALL_S = 300.0
# Upper bounds keep a mistyped value from tying up the emulator for hours.
MAX_DELAY_MS = 600_000
MAX_STALL_S = 3_600.0

STREAM_ONLY_KEYS = ("chunk_delay_ms", "stall_after", "reset_after")


@dataclass(frozen=True)
class Fault:
    """The parsed directives; every field left at None means "behave normally"."""

    status: int | None = None
    retry_after: int | None = None
    latency_ms: int | None = None
    chunk_delay_ms: int | None = None
    stall_after: int | None = None
    stall_s: float | None = None
    reset_after: int | None = None
    tools: str | None = None  # "off": answer with text although tools are offered

    def as_dict(self) -> dict[str, Any]:
        """Only the directives given, for the request log."""
        return {key: value for key, value in asdict(self).items() if value is not None}


def strip_markers(text: str) -> str:
    """``text`` without fault markers, so they never show up in the answer's echo."""
    return MARKER_PATTERN.sub(" ", text)


def _int(key: str, raw: str, low: int, high: int) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"emulator fault {key}={raw!r} is not an integer") from None
    if not low <= value <= high:
        raise ApiError(400, f"emulator fault {key}={value} is outside {low}..{high}")
    return value


def _seconds(key: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ApiError(400, f"emulator fault {key}={raw!r} is not a number") from None
    if not 0 < value <= MAX_STALL_S:
        raise ApiError(400, f"emulator fault {key}={value} is outside (0, {MAX_STALL_S:g}]")
    return value


def _parse_value(key: str, raw: str) -> int | float | str:
    if key == "tools":
        if raw != "off":
            raise ApiError(400, f"emulator fault tools={raw!r} is not 'off'")
        return raw
    if key == "status":
        return _int(key, raw, 400, 599)
    if key == "stall_s":
        return _seconds(key, raw)
    if key in ("retry_after", "stall_after", "reset_after"):
        return _int(key, raw, 0, 1_000_000)
    if key in ("latency_ms", "chunk_delay_ms"):
        return _int(key, raw, 0, MAX_DELAY_MS)
    known = ", ".join(Fault.__dataclass_fields__)
    raise ApiError(400, f"unknown emulator fault key {key!r} (known: {known})")


def _parse_list(spec: str, into: dict[str, int | float | str]) -> None:
    for item in spec.split(","):
        item = item.strip()
        if not item:
            continue
        key, sep, raw = item.partition("=")
        key, raw = key.strip(), raw.strip()
        if not sep or not key or not raw:
            raise ApiError(400, f"emulator fault {item!r} is not key=value")
        if key in into:
            raise ApiError(400, f"emulator fault key {key!r} is given twice")
        into[key] = _parse_value(key, raw)


def parse_fault(header: str | None, last_user_text: str, *, stream: bool) -> Fault:
    """Collect the directives from the header and every marker in the last user message."""
    values: dict[str, int | float | str] = {}
    if header is not None:
        _parse_list(header, values)
    for spec in MARKER_PATTERN.findall(last_user_text):
        _parse_list(spec, values)
    fault = Fault(
        status=_optional_int(values, "status"),
        retry_after=_optional_int(values, "retry_after"),
        latency_ms=_optional_int(values, "latency_ms"),
        chunk_delay_ms=_optional_int(values, "chunk_delay_ms"),
        stall_after=_optional_int(values, "stall_after"),
        stall_s=None if "stall_s" not in values else float(values["stall_s"]),
        reset_after=_optional_int(values, "reset_after"),
        tools=None if "tools" not in values else str(values["tools"]),
    )
    _check_combination(fault, stream=stream)
    return fault


def _optional_int(values: dict[str, int | float | str], key: str) -> int | None:
    return None if key not in values else int(values[key])


def _check_combination(fault: Fault, *, stream: bool) -> None:
    if fault.stall_after is not None and fault.reset_after is not None:
        raise ApiError(400, "emulator faults stall_after and reset_after exclude each other")
    if fault.stall_s is not None and fault.stall_after is None:
        raise ApiError(400, "emulator fault stall_s needs stall_after")
    if fault.retry_after is not None and fault.status is None:
        raise ApiError(400, "emulator fault retry_after needs status")
    if not stream:
        for key in STREAM_ONLY_KEYS:
            if getattr(fault, key) is not None:
                raise ApiError(400, f"emulator fault {key} applies to streaming requests only")
    if fault.status is not None and (
        fault.chunk_delay_ms is not None
        or fault.stall_after is not None
        or fault.reset_after is not None
    ):
        raise ApiError(400, "emulator fault status answers before any stream starts")
