"""One local stack for the whole integration run: real LiteLLM, real Redis, the stand-ins.

LiteLLM runs under strace (connect() calls only, filtered in the kernel with seccomp-bpf,
so it costs almost nothing) so that a test can prove it never dials out.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.stack import LocalStack, StackPorts


@pytest.fixture(scope="session")
def connect_trace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("strace") / "litellm-connect.trace"


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory, connect_trace: Path) -> Iterator[LocalStack]:
    strace = shutil.which("strace")
    if strace is None:
        pytest.fail("strace is not installed (Debian: apt-get install strace); see README.md")
    local = LocalStack(
        run_dir=tmp_path_factory.mktemp("stack"),
        ports=StackPorts.free(),
        litellm_argv_prefix=[
            strace,
            "-f",
            "--seccomp-bpf",
            "-qq",
            "-e",
            "trace=connect",
            "-e",
            "signal=none",
            "-o",
            str(connect_trace),
        ],
    )
    local.start()
    try:
        yield local
    finally:
        local.stop()
