"""When a local-stack process counts as ready: its own socket answers, never another
program's on the same port; and what a start still waiting says while it waits."""

from __future__ import annotations

import http.server
import os
import re
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack import processes
from devstack.processes import ManagedProcess, StackError, free_port

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

# A server that listens on its port after a pause, then answers every GET with 200.
LATE_SERVER = """
import http.server, sys, time
time.sleep(float(sys.argv[2]))
handler = http.server.SimpleHTTPRequestHandler
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), handler).serve_forever()
"""


class _Ok(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.end_headers()

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def foreign_server() -> Iterator[int]:
    """Another program's server (this test's own thread) answering 200 on a port."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def late_server(tmp_path: Path, port: int, delay_s: float) -> ManagedProcess:
    return ManagedProcess(
        name="late-server",
        argv=[sys.executable, "-c", LATE_SERVER, str(port), str(delay_s)],
        env={},
        log_path=tmp_path / "late-server.log",
        ready_url=f"http://127.0.0.1:{port}/",
        cwd=tmp_path,
    )


def test_an_answer_from_another_programs_socket_is_not_readiness(
    tmp_path: Path, foreign_server: int
) -> None:
    """The port answers 200 from the start, but from this test's server: the process,
    which cannot bind it, must be reported as failed, never as ready."""
    process = late_server(tmp_path, foreign_server, 0.5)
    try:
        with pytest.raises(StackError, match="exited with code 1 before it was ready") as raised:
            process.start(ready_timeout=20)
        assert "Address already in use" in str(raised.value)
    finally:
        process.stop()


def test_a_start_names_the_other_program_that_answers(tmp_path: Path, foreign_server: int) -> None:
    process = late_server(tmp_path, foreign_server, 0.5)
    lines: list[str] = []
    try:
        with pytest.raises(StackError):
            process.start(ready_timeout=20, progress=lines.append)
    finally:
        process.stop()
    assert (f"  late-server: port {foreign_server} answers from PID {os.getpid()} (") in "\n".join(
        lines
    )
    assert any(line.endswith("not from late-server: waiting for its own") for line in lines)


def test_a_start_says_what_it_waits_for_and_for_how_long(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(processes, "PROGRESS_INTERVAL_S", 0.5)
    port = free_port()
    process = late_server(tmp_path, port, 1.6)
    lines: list[str] = []
    try:
        process.start(ready_timeout=20, progress=lines.append)
    finally:
        process.stop()
    url = f"http://127.0.0.1:{port}/"
    assert lines[0] == f"Starting late-server (pid {process.pid}): waiting for {url}"
    waiting = [line for line in lines if "still waiting" in line]
    pattern = rf"  late-server: still waiting for {re.escape(url)}, \d+ s so far \(log: .+\)"
    assert len(waiting) >= 2, lines
    assert all(re.fullmatch(pattern, line) for line in waiting), waiting
    assert lines[-1].startswith("  late-server ready after 1.")
