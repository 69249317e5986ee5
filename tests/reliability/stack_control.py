"""Taking parts of the reliability stack down and bringing them back, and reading their memory."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
from collections.abc import Iterator
from pathlib import Path

from devstack.processes import LOOPBACK, free_port
from devstack.stack import LocalStack

PROC = Path("/proc")


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
    port = free_port()
    base = stack.gateway_process()
    process = dataclasses.replace(
        base,
        name=f"gateway-{port}",
        env={**base.env, "GATEWAY_PORT": str(port), **env},
        log_path=base.log_path.with_name(f"gateway-{port}.log"),
        ready_url=f"http://{LOOPBACK}:{port}/readyz",
    )
    process.start(ready_timeout=30)
    try:
        yield dataclasses.replace(stack, ports=dataclasses.replace(stack.ports, gateway=port))
    finally:
        process.stop()


def _vm_rss_kib(status: Path) -> int:
    for line in status.read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0  # a zombie has no VmRSS line


def group_rss_kib(leader_pid: int) -> int:
    """VmRSS (/proc/<pid>/status) summed over the process group that `leader_pid` leads.

    Every stack process leads its own group, so this also counts workers a server forks."""
    total = 0
    for stat in PROC.glob("[0-9]*/stat"):
        try:
            # The command name may hold spaces or parentheses: fields start after the last ')'.
            fields = stat.read_text().rpartition(")")[2].split()
            if int(fields[2]) == leader_pid:
                total += _vm_rss_kib(stat.with_name("status"))
        except (OSError, ValueError, IndexError):
            continue  # the process exited while we looked
    return total
