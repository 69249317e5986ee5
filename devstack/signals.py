"""How `python -m devstack` is stopped: SIGINT (Ctrl-C), SIGTERM or SIGHUP, once.

The first of them raises StopRequested in the main thread wherever it is (waiting for
LiteLLM, or in the foreground loop), so a stop never waits for a start to finish. Every
later one is ignored: the stop that follows runs to its end and leaves nothing behind.

Two places must not be cut by the raise, and run inside `deferred()`: starting a child
(between fork and the Popen object a raise would lose the child's PID) and stopping the
stack. A signal that arrives there raises when the block ends.

Nothing here is active until `install()`: the tests and the bench use the stack without it.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class StopRequested(Exception):
    """A stop signal arrived; `name` is the signal's, e.g. SIGINT."""

    def __init__(self, signum: int) -> None:
        self.name = signal.Signals(signum).name
        super().__init__(self.name)


@dataclass
class _State:
    armed: bool = False  # raise on the next signal
    depth: int = 0  # inside deferred() blocks
    pending: int | None = None  # a signal that arrived inside one


_state = _State()


def _on_signal(signum: int, _frame: FrameType | None) -> None:
    if not _state.armed:
        return
    if _state.depth:
        _state.pending = signum
        return
    _state.armed = False
    raise StopRequested(signum)


def install() -> None:
    """Handle the stop signals from now on (explicitly: a shell starts background jobs with
    SIGINT ignored, and Python then never raises KeyboardInterrupt)."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, _on_signal)
    _state.armed = True


def disarm() -> None:
    """Ignore every further stop signal: the stop is under way."""
    _state.armed = False
    _state.pending = None


@contextmanager
def deferred() -> Iterator[None]:
    """Hold a stop signal's raise until the block ends."""
    _state.depth += 1
    try:
        yield
    finally:
        _state.depth -= 1
        if not _state.depth and _state.pending is not None and _state.armed:
            signum, _state.pending, _state.armed = _state.pending, None, False
            raise StopRequested(signum)
