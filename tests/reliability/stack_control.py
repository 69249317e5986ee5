"""Taking parts of the reliability stack down and bringing them back, and reading their memory."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
from collections.abc import Iterator

from devstack.stack import LocalStack


@contextlib.contextmanager
def stopped(stack: LocalStack, name: str, ready_timeout_s: float) -> Iterator[None]:
    """`name` is down (SIGTERM, waited for) inside the block and ready again after it."""
    process = stack.processes[name]
    process.stop()
    try:
        yield
    finally:
        process.start(ready_timeout=ready_timeout_s)


def kill(stack: LocalStack, name: str) -> None:
    """SIGKILL the process group: a crash, with no chance to finish what it was doing."""
    pid = stack.processes[name].pid
    if pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)


@contextlib.contextmanager
def spare_gateway(stack: LocalStack, **env: str) -> Iterator[LocalStack]:
    """A second gateway process in front of the same LiteLLM, with settings changed.

    Yields a view of `stack` whose gateway is the spare one, so every helper that takes a
    stack calls it; the main gateway keeps its own settings for the other faults."""
    process, port = stack.spare_gateway_process(**env)
    process.start(ready_timeout=30)
    try:
        yield dataclasses.replace(stack, ports=dataclasses.replace(stack.ports, gateway=port))
    finally:
        process.stop()
