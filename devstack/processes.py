"""Start, wait for and stop the local stack's processes, by their PID.

Every process binds 127.0.0.1, writes its output to a log file (so a failure can be read
after the fact, and nothing is printed twice), and is stopped with SIGTERM, then SIGKILL
after a bound: a test run never leaves a server behind.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

LOOPBACK = "127.0.0.1"
PROC = Path("/proc")


class StackError(RuntimeError):
    """A local-stack process could not be started or did not become ready."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def port_is_open(port: int, host: str = LOOPBACK, timeout: float = 0.2) -> bool:
    """Whether something accepts TCP connections on host:port."""
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=timeout):
        return True
    return False


def http_ok(url: str, timeout: float = 1.0) -> bool:
    """Whether GET url answers 2xx."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (loopback URL built here)
            status: int = response.status
            return 200 <= status < 300
    except (urllib.error.URLError, OSError, ValueError):
        return False


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


def _signal_group(pgid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


@dataclass
class ManagedProcess:
    """One server process of the local stack."""

    name: str
    argv: Sequence[str]
    env: Mapping[str, str]
    log_path: Path
    ready_url: str | None = None
    ready_port: int | None = None
    cwd: Path | None = None
    _popen: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _log: IO[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def pid(self) -> int | None:
        return self._popen.pid if self._popen else None

    @property
    def running(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    def start(self, ready_timeout: float = 60.0) -> None:
        """Start the process and return once it is ready, or raise StackError."""
        if self.running:
            return
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        # A new session, so Ctrl-C in a terminal reaches only `invoke dev`, which then
        # stops every child in order instead of each child racing to exit on its own.
        self._popen = subprocess.Popen(  # noqa: S603 (argv is built by this package)
            list(self.argv),
            env=dict(self.env),
            cwd=self.cwd,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._wait_ready(ready_timeout)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running:
                raise StackError(
                    f"{self.name} exited with code {self._exit_code()} before it was ready; "
                    f"last lines of {self.log_path}:\n{self.log_tail()}"
                )
            if self._is_ready():
                return
            time.sleep(0.1)
        self.stop()
        raise StackError(
            f"{self.name} was not ready within {timeout:.0f} s; "
            f"last lines of {self.log_path}:\n{self.log_tail()}"
        )

    def _is_ready(self) -> bool:
        if self.ready_url is not None:
            return http_ok(self.ready_url)
        if self.ready_port is not None:
            return port_is_open(self.ready_port)
        return True

    def _exit_code(self) -> int | None:
        return self._popen.poll() if self._popen else None

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM, wait up to `timeout`, then SIGKILL. Returns the exit code."""
        popen = self._popen
        if popen is None:
            return None
        # The process leads its own process group (start_new_session), so signalling the
        # group also reaches what it started: workers, or the program under strace.
        if popen.poll() is None:
            _signal_group(popen.pid, signal.SIGTERM)
            try:
                popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _signal_group(popen.pid, signal.SIGKILL)
                popen.wait(timeout=5)
        _signal_group(popen.pid, signal.SIGKILL)  # anything of the group still left
        if self._log is not None:
            self._log.close()
            self._log = None
        return popen.returncode

    def rss_mb(self) -> float | None:
        """Resident memory of the process and its group (workers, a traced child), in MB."""
        return (
            round(group_rss_kib(self._popen.pid) / 1024, 1)
            if self.running and self._popen
            else None
        )

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])
