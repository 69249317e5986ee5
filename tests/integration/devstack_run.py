"""`invoke dev` run as a person runs it, for the tests of the local stack's command line.

The run is a real `invoke dev` (invoke execs nox, whose dev session execs
`python -m devstack`: one process), on ports the test chose, with its run directory (logs,
master key, clients file) in the test's temporary folder. Its output is read line by line
as it comes; the banner's commands are taken from it verbatim.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devstack.banner import HEADLINE
from devstack.ports import holders, listening_inodes
from devstack.processes import ManagedProcess, free_port, port_is_open, process_group_members

REPO_ROOT = Path(__file__).resolve().parents[2]
# The first run on a fresh clone builds .nox/dev (and maybe .venvs/litellm) before the
# stack starts; LiteLLM alone takes 10-30 s.
BANNER_TIMEOUT_S = 420
# The banner's last line: once it is there, the whole banner is.
BANNER_END = "/_receiver/spans?session_id="
PORT_NAMES = ("gateway", "litellm", "redis", "emulator", "receiver")
_STARTING = re.compile(r"^Starting (\S+) \(pid (\d+)\)")


def free_ports() -> dict[str, int]:
    ports: dict[str, int] = {}
    while len(set(ports.values())) < len(PORT_NAMES):
        ports = {name: free_port() for name in PORT_NAMES}
    return ports


def port_spec(ports: Mapping[str, int]) -> str:
    return ",".join(f"{name}={port}" for name, port in ports.items())


def stack_env(run_dir: Path, **extra: str) -> dict[str, str]:
    """The caller's environment without anything that would change the stack (a real
    Langfuse, real provider keys, devstack's own settings), with this venv's tools first."""
    dropped = ("LANGFUSE_", "DEVSTACK_", "ANTHROPIC_", "GROQ_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env | {"DEVSTACK_RUN_DIR": str(run_dir)} | extra


def mint(run_dir: Path, name: str, *limits: str) -> str:
    """`invoke mint-client-key`'s program: the key file, the entry into the clients file."""
    key_file = run_dir / f"{name}.key"
    result = subprocess.run(
        [
            sys.executable, "-m", "gateway.mint", "--name", name, "--models", "claude-sonnet",
            *limits, "--key-file", str(key_file), "--clients-file", str(run_dir / "clients.json"),
        ],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return key_file.read_text().strip()


def http(
    method: str, url: str, body: Any = None, headers: Mapping[str, str] | None = None
) -> tuple[int, dict[str, str], Any]:
    """Status, headers (lowercase names) and JSON body of one call."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))  # noqa: S310
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
            status, got, raw = response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        status, got, raw = error.code, error.headers, error.read()
    return status, {k.lower(): v for k, v in got.items()}, json.loads(raw) if raw else None


def chat(gateway_url: str, key: str) -> tuple[int, dict[str, str], Any]:
    body = {"model": "claude-sonnet", "messages": [{"role": "user", "content": "Hello"}]}
    headers = {"Authorization": f"Bearer {key}"}
    return http("POST", f"{gateway_url}/v1/chat/completions", body, headers)


def group_holds(leader: int, port: int) -> bool:
    return bool(holders(listening_inodes(port), process_group_members(leader)))


def group_alive(leader: int) -> bool:
    try:
        os.killpg(leader, 0)
    except ProcessLookupError:
        return False
    return True


@contextlib.contextmanager
def redis_with_password(tmp_path: Path, port: int, password: str) -> Iterator[ManagedProcess]:
    """A Redis of the test's own (not the stack's), its password in a 0600 config file."""
    conf = tmp_path / f"redis-{port}.conf"
    conf.write_text(f'bind 127.0.0.1\nport {port}\nsave ""\nrequirepass {password}\n')
    conf.chmod(0o600)
    process = ManagedProcess(
        name=f"test-redis-{port}",
        argv=["redis-server", str(conf)],
        env={"PATH": os.environ.get("PATH", "")},
        log_path=tmp_path / f"redis-{port}.log",
        ready_port=port,
    )
    process.start(ready_timeout=10)
    try:
        yield process
    finally:
        process.stop()


@dataclass
class Stopped:
    signal: str
    seconds: float
    exit_code: int


class DevRun:
    """One `invoke dev` in a session of its own; stop() signals its PID alone."""

    def __init__(self, args: list[str], env: Mapping[str, str]) -> None:
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "invoke", "dev", *args],
            cwd=REPO_ROOT,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, text: str, timeout: float = BANNER_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output:
            if self.popen.poll() is not None:
                self._reader.join(timeout=5)
                if text in self.output:
                    return
                raise AssertionError(f"invoke dev exited ({self.popen.returncode}):\n{self.output}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no {text!r} after {timeout} s:\n{self.output[-5000:]}")
            time.sleep(0.2)

    def wait_for_banner(self) -> str:
        self.wait_for(BANNER_END)
        return self.banner

    @property
    def banner(self) -> str:
        text = self.output
        return text[text.index(HEADLINE) :]

    def pids(self) -> dict[str, int]:
        """Each process's PID as the run reported it (a restarted one's latest)."""
        return {match[1]: int(match[2]) for line in self.lines if (match := _STARTING.match(line))}

    def banner_pids(self) -> dict[str, int]:
        """The PID on each row of the banner, by the row's label."""
        rows: dict[str, int] = {}
        for line in self.banner.splitlines()[1:]:
            found = re.search(r"\bpid (\d+)\b", line)
            if found:
                rows[line[2:20].strip()] = int(found[1])
        return rows

    def commands(self) -> list[str]:
        """The banner's shell commands, verbatim: each `curl` line and its continuations."""
        commands: list[str] = []
        current: list[str] | None = None
        for line in self.banner.splitlines():
            if current is None and line.startswith("  curl "):
                current = []
            if current is not None:
                current.append(line)
                if not line.endswith("\\"):
                    commands.append("\n".join(current))
                    current = None
        return commands

    def stop(self, signum: signal.Signals, timeout: float = 30) -> Stopped:
        started = time.monotonic()
        self.popen.send_signal(signum)
        code = self.popen.wait(timeout=timeout)
        seconds = time.monotonic() - started
        self._reader.join(timeout=5)
        return Stopped(signum.name, seconds, code)

    def kill_what_is_left(self) -> None:
        """After a failed test: SIGKILL this run and every process group it reported."""
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait(timeout=10)
        for pid in self.pids().values():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)


def assert_stopped_cleanly(
    run: DevRun, stopped: Stopped, pids: Mapping[str, int], ports: Mapping[str, int]
) -> None:
    assert stopped.exit_code == 0, run.output[-3000:]
    assert stopped.seconds < 10, f"{stopped.signal}: {stopped.seconds:.1f} s to stop"
    assert "Traceback" not in run.output, run.output[-5000:]
    assert run.lines[-1] == "Local stack stopped.", run.output[-2000:]
    assert f"{stopped.signal}: stopping the local stack ..." in run.output
    left = {name: pid for name, pid in pids.items() if group_alive(pid)}
    assert not left, f"process groups still alive after {stopped.signal}: {left}"
    answering = {name: port for name, port in ports.items() if port_is_open(port)}
    assert not answering, f"ports still answering after {stopped.signal}: {answering}"
