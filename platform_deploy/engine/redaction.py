"""The one place that knows the run's secret values, and the filter every output goes through.

Generated values and values read from the cluster are registered here as soon as they exist;
every line the engine prints, every subprocess output it relays and every exception message
it shows passes through `redact` first.
"""

from __future__ import annotations

import base64
import sys
from collections.abc import Callable
from typing import TextIO

REDACTED = "[REDACTED]"
# Shorter values would blank out ordinary words; the inventory's shortest value is longer.
MIN_SECRET_LENGTH = 8


class Redactor:
    def __init__(self) -> None:
        self._values: set[str] = set()

    def __repr__(self) -> str:
        return f"Redactor({len(self._values)} values)"

    def register(self, value: str) -> None:
        """Remember a secret value, and the base64 form a Secret's data carries it in."""
        for form in (
            value,
            value.strip(),
            base64.b64encode(value.encode("utf-8", "surrogateescape")).decode("ascii"),
        ):
            if len(form) >= MIN_SECRET_LENGTH:
                self._values.add(form)

    def redact(self, text: str) -> str:
        # Longest first, so a value containing another is replaced whole.
        for value in sorted(self._values, key=len, reverse=True):
            if value in text:
                text = text.replace(value, REDACTED)
        return text

    def error_message(self, error: BaseException) -> str:
        return self.redact(f"{type(error).__name__}: {error}" if not str(error) else str(error))

    def printer(self, stream: TextIO | None = None) -> Callable[[str], None]:
        """A print function that redacts every line before it reaches the stream."""

        def emit(line: str) -> None:
            print(self.redact(line), file=stream or sys.stdout, flush=True)

        return emit
