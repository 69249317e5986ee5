"""Durations: read as Go writes them (environments.yaml, Helm's --timeout), and written for
Helm or for people."""

from __future__ import annotations

import re

_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def parse_duration(text: str) -> int:
    """Seconds in a Go-style duration ("20m", "1h30m", "90s"), as Helm's --timeout takes."""
    match = _DURATION.match(text.strip())
    if not text.strip() or match is None:
        raise ValueError(f"not a duration: {text!r} (use e.g. 90s, 5m, 1h)")
    hours, minutes, seconds = (int(group or 0) for group in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def helm_duration(seconds: int) -> str:
    """For Helm's --timeout: "20m0s"."""
    minutes, rest = divmod(seconds, 60)
    return f"{minutes}m{rest}s"


def human_duration(seconds: float) -> str:
    """For people reading a summary: "4.2s", "2m 13s", "1h 05m"."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"
