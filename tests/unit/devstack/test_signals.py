"""The stop signals of `python -m devstack`: the first raises, later ones are ignored, and
none cuts a deferred block short."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pytest

from devstack import signals


@pytest.fixture(autouse=True)
def stop_handlers() -> Iterator[None]:
    """Install the handlers for one test, then give pytest its own back."""
    saved = {signum: signal.getsignal(signum) for signum in signals.STOP_SIGNALS}
    signals.install()
    try:
        yield
    finally:
        signals.disarm()
        for signum, handler in saved.items():
            signal.signal(signum, handler)


def test_the_first_signal_raises_and_later_ones_are_ignored() -> None:
    with pytest.raises(signals.StopRequested) as raised:
        os.kill(os.getpid(), signal.SIGTERM)  # the handler runs before kill() returns
    assert raised.value.name == "SIGTERM"
    os.kill(os.getpid(), signal.SIGINT)  # the stop is under way: nothing happens
    os.kill(os.getpid(), signal.SIGHUP)


def _signal_then_finish(done: list[str]) -> None:
    with signals.deferred():
        os.kill(os.getpid(), signal.SIGINT)
        done.append("the block ran to its end")


def test_a_signal_inside_a_deferred_block_raises_when_it_ends() -> None:
    done: list[str] = []
    with pytest.raises(signals.StopRequested) as raised:
        _signal_then_finish(done)
    assert done == ["the block ran to its end"]
    assert raised.value.name == "SIGINT"


def test_disarmed_nothing_raises() -> None:
    signals.disarm()
    with signals.deferred():
        os.kill(os.getpid(), signal.SIGINT)
    os.kill(os.getpid(), signal.SIGTERM)
