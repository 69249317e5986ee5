"""Start, wait for and stop the local stack's processes, by their PID.

Every process binds 127.0.0.1, writes its output to a log file (so a failure can be read
after the fact, and nothing is printed twice), and is stopped with SIGTERM, then SIGKILL
after a bound: a test run never leaves a server behind. A process is ready when its port
answers from a socket that its own process group holds, never another program's on the
same port.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from devstack import signals
from devstack.ports import PROC, can_see_sockets, describe_holder, holders, listening_inodes

LOOPBACK = "127.0.0.1"
# How often a start still waiting says so (LiteLLM takes 10-30 s to import and start).
PROGRESS_INTERVAL_S = 5.0

Progress = Callable[[str], None]


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


def redis_accepts(port: int, password: str, timeout: float = 1.0) -> bool:
    """Whether a Redis on 127.0.0.1:port takes `password` (AUTH answers +OK, PING +PONG).

    Raw RESP rather than redis-py: redis-py treats a Redis that has no password at all as
    accepting any, and a Redis without a password is exactly one that must not be shared."""
    request = b"".join(
        f"*{len(words)}\r\n".encode()
        + b"".join(f"${len(w.encode())}\r\n".encode() + w.encode() + b"\r\n" for w in words)
        for words in (("AUTH", password), ("PING",))
    )
    replies = b""
    try:
        with socket.create_connection((LOOPBACK, port), timeout=timeout) as sock:
            sock.sendall(request)
            while replies.count(b"\r\n") < 2:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                replies += chunk
    except OSError:
        return False
    return replies.split(b"\r\n")[:2] == [b"+OK", b"+PONG"]


def process_group_members(leader_pid: int) -> list[int]:
    """The PIDs in the process group that `leader_pid` leads (each stack process leads its
    own, so this also finds the workers a server forks, or the program under strace)."""
    members = []
    for stat in PROC.glob("[0-9]*/stat"):
        try:
            # The command name may hold spaces or parentheses: fields start after the last ')'.
            fields = stat.read_text().rpartition(")")[2].split()
            if int(fields[2]) == leader_pid:
                members.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue  # the process exited while we looked
    return members


def http_json(url: str, timeout: float = 1.0) -> dict[str, Any]:
    """GET url's JSON object, whatever the status; {} when there is none."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (loopback URL built here)
            body: bytes = response.read()
    except urllib.error.HTTPError as error:
        body = error.read()
    except (urllib.error.URLError, OSError, ValueError):
        return {}
    try:
        parsed = json.loads(body)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _vm_rss_kib(status: Path) -> int:
    for line in status.read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0  # a zombie has no VmRSS line


def group_rss_kib(leader_pid: int) -> int:
    """VmRSS (/proc/<pid>/status) summed over the process group that `leader_pid` leads."""
    total = 0
    for pid in process_group_members(leader_pid):
        with contextlib.suppress(OSError, ValueError, IndexError):  # exited while we looked
            total += _vm_rss_kib(PROC / str(pid) / "status")
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

    @property
    def port(self) -> int | None:
        """The port its readiness is checked on: `ready_port`, else `ready_url`'s."""
        if self.ready_port is not None:
            return self.ready_port
        return urllib.parse.urlsplit(self.ready_url).port if self.ready_url else None

    def start(self, ready_timeout: float = 60.0, progress: Progress | None = None) -> None:
        """Start the process and return once it is ready, or raise StackError.

        `progress` (e.g. print) hears what is being waited for, and every
        PROGRESS_INTERVAL_S how long it has been."""
        if self.running:
            return
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        # A new session, so Ctrl-C in a terminal reaches only `invoke dev`, which then
        # stops every child in order instead of each child racing to exit on its own.
        with signals.deferred():
            self._popen = subprocess.Popen(  # noqa: S603 (argv is built by this package)
                list(self.argv),
                env=dict(self.env),
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._wait_ready(ready_timeout, progress or (lambda _line: None))

    def _awaited(self) -> str:
        if self.ready_url is not None:
            return self.ready_url
        if self.ready_port is not None:
            return f"{LOOPBACK}:{self.ready_port} to accept connections"
        return "nothing"

    def _wait_ready(self, timeout: float, progress: Progress) -> None:
        started = time.monotonic()
        deadline = started + timeout
        next_report = started + PROGRESS_INTERVAL_S
        progress(f"Starting {self.name} (pid {self.pid}): waiting for {self._awaited()}")
        foreign_reported = False
        while time.monotonic() < deadline:
            if not self.running:
                raise StackError(
                    f"{self.name} exited with code {self._exit_code()} before it was ready; "
                    f"last lines of {self.log_path}:\n{self.log_tail()}"
                )
            answered = self._answers()
            if answered and self._holds_its_port():
                progress(f"  {self.name} ready after {time.monotonic() - started:.1f} s")
                return
            if answered and not foreign_reported and self.port is not None:
                foreign_reported = True
                progress(
                    f"  {self.name}: port {self.port} answers from {describe_holder(self.port)}, "
                    f"not from {self.name}: waiting for its own"
                )
            now = time.monotonic()
            if now >= next_report:
                next_report += PROGRESS_INTERVAL_S
                progress(
                    f"  {self.name}: still waiting for {self._awaited()}, "
                    f"{now - started:.0f} s so far (log: {self.log_path})"
                )
            time.sleep(0.1)
        self.stop()
        raise StackError(
            f"{self.name} was not ready within {timeout:.0f} s; "
            f"last lines of {self.log_path}:\n{self.log_tail()}"
        )

    def _answers(self) -> bool:
        if self.ready_url is not None:
            return http_ok(self.ready_url)
        if self.ready_port is not None:
            return port_is_open(self.ready_port)
        return True

    def _holds_its_port(self) -> bool:
        """Whether the socket that answered is this process's (or its group's): another
        stack on the same port answers health checks just as well. Where /proc cannot
        tell (not Linux), the answer alone counts."""
        port = self.port
        if port is None or self._popen is None or not can_see_sockets():
            return True
        return bool(holders(listening_inodes(port), process_group_members(self._popen.pid)))

    def _exit_code(self) -> int | None:
        return self._popen.poll() if self._popen else None

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM, wait up to `timeout`, then SIGKILL. Returns the exit code."""
        popen = self._popen
        if popen is None:
            return None
        # The process leads its own process group (start_new_session), so signalling the
        # group also reaches what it started: workers, or the program under strace.
        with signals.deferred():  # a stop signal now would leave the group running
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
