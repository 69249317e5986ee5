"""Secret values never reach output: every line and exception goes through one filter."""

from __future__ import annotations

import base64
import io

from platform_deploy.engine.redaction import REDACTED, Redactor

VALUE = "sk-gw-Q2hhbmdlTWVQbGVhc2VOb3RBUmVhbEtleQ"


def test_plain_and_base64_forms_are_redacted() -> None:
    redactor = Redactor()
    redactor.register(VALUE)
    encoded = base64.b64encode(VALUE.encode()).decode()
    line = f"header Authorization: Bearer {VALUE}; data: {encoded}"
    assert VALUE not in redactor.redact(line)
    assert encoded not in redactor.redact(line)
    assert redactor.redact(line).count(REDACTED) == 2


def test_exception_messages_are_redacted() -> None:
    redactor = Redactor()
    redactor.register(VALUE)
    message = redactor.error_message(RuntimeError(f"helm failed: password={VALUE}"))
    assert VALUE not in message
    assert REDACTED in message


def test_printer_redacts_every_line() -> None:
    redactor = Redactor()
    redactor.register(VALUE)
    stream = io.StringIO()
    redactor.printer(stream)(f"value {VALUE}")
    assert stream.getvalue() == f"value {REDACTED}\n"


def test_longer_values_win_and_short_ones_are_not_registered() -> None:
    redactor = Redactor()
    redactor.register("abcdefgh")
    redactor.register("abcdefgh-and-more")
    redactor.register("short")
    assert redactor.redact("abcdefgh-and-more short") == f"{REDACTED} short"
    assert "values" in repr(redactor)
    assert "abcdefgh" not in repr(redactor)
