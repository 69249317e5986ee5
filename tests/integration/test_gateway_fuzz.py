"""Schema-driven fuzzing of the gateway's own OpenAPI document: no 5xx from the gateway.

Schemathesis generates requests from /openapi.json (valid and invalid bodies, headers,
methods) and sends them to the running gateway, whose upstream is the real LiteLLM. The
check (schemathesis_hooks.py) fails on any 5xx the gateway produced itself; a 5xx that
LiteLLM produced and the gateway passed on is marked `x-gateway-error-source: upstream`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from devstack.stack import LocalStack
from tests.integration.conftest import CLIENTS

pytestmark = pytest.mark.integration

EXAMPLES = int(os.environ.get("GATEWAY_FUZZ_EXAMPLES", "60"))


def test_fuzzed_requests_never_get_a_5xx(stack: LocalStack, tmp_path: Path) -> None:
    st = shutil.which("st") or str(Path(sys.executable).with_name("st"))
    result = subprocess.run(
        [
            st, "run", f"{stack.gateway_url}/openapi.json",
            "--checks", "no_server_error_from_the_gateway",
            "--header", f"Authorization: Bearer {CLIENTS['full'].key}",
            "--max-examples", str(EXAMPLES),
            "--generation-deterministic",
            "--request-timeout", "30",
            "--no-color",
        ],
        capture_output=True, text=True, timeout=600, check=False, cwd=tmp_path,
        env={**os.environ, "SCHEMATHESIS_HOOKS": "tests.integration.schemathesis_hooks"},
    )  # fmt: skip
    report = result.stdout + result.stderr
    # The key schemathesis sent must not end up in what pytest prints on failure.
    report = report.replace(CLIENTS["full"].key, "<client key>")
    assert result.returncode == 0, report[-6000:]
    summary = [line for line in report.splitlines() if "passed" in line or "test cases" in line]
    print("\n".join(summary[-3:]))
