"""Schema-driven fuzzing of the gateway's OpenAPI document, larger than the integration
run, with counts: no 5xx from the gateway itself, whatever schemathesis sends.

Two passes over the same running chain:
- `served`: the document as /openapi.json serves it, valid and invalid data. Its schema
  is looser than the gateway's checks (a message's content is optional there, any string
  is a model), so nearly every generated chat completion is refused with a 4xx before it
  reaches LiteLLM: this pass fuzzes the gateway's validation and error paths.
- `accepted`: the same document narrowed to requests the chain accepts (the allowed
  models, user messages with text), valid data only, so generated requests travel the
  whole chain and the forwarding and streaming paths are fuzzed too.

GATEWAY_FUZZ_EXAMPLES (default 500 here; the integration run uses 60) is schemathesis's
--max-examples per operation and pass. Counts come from schemathesis's JSON report, the
gateway's request metric by status, and the emulator's request counter.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from devstack.stack import LocalStack
from tests.integration.gateway_calls import emulator_stats
from tests.reliability.conftest import CLIENT
from tests.reliability.report import Report

pytestmark = pytest.mark.reliability

EXAMPLES = int(os.environ.get("GATEWAY_FUZZ_EXAMPLES", "500"))
HOOKS = "tests.integration.schemathesis_hooks"  # the check: no 5xx made by the gateway
_ID = {"type": "string", "pattern": "^[A-Za-z0-9-]{1,64}$"}


def requests_by_status(stack: LocalStack) -> Counter[str]:
    """The gateway's LLM call count (all its APIs) by status class, from /metrics."""
    counts: Counter[str] = Counter()
    for line in httpx.get(f"{stack.gateway_url}/metrics").text.splitlines():
        if line.startswith("gateway_requests_total{"):
            status = line.split('status="', 1)[1].split('"', 1)[0]
            counts[f"{status[0]}xx"] += int(float(line.rsplit(" ", 1)[1]))
    return counts


def narrowed(document: dict[str, Any]) -> dict[str, Any]:
    """The document with chat completions and messages narrowed to what the whole chain
    accepts."""
    narrow = copy.deepcopy(document)
    request = narrow["components"]["schemas"]["ChatCompletionRequest"]
    props = request["properties"]
    props["model"] = {"type": "string", "enum": ["claude-sonnet", "groq-llama"]}
    props["messages"] = {"type": "array", "minItems": 1, "maxItems": 3, "items": {
        "type": "object", "required": ["role", "content"], "additionalProperties": False,
        "properties": {"role": {"enum": ["user"]},
                       "content": {"type": "string", "minLength": 1, "maxLength": 200}},
    }}  # fmt: skip
    props["max_tokens"] = props["max_completion_tokens"] = {
        "type": "integer", "minimum": 1, "maximum": 64
    }  # fmt: skip
    props["temperature"] = {"type": "number", "minimum": 0, "maximum": 1}  # Anthropic's range
    props["n"] = {"type": "integer", "enum": [1]}
    props["stop"] = {"type": "array", "maxItems": 2, "items": {
        "type": "string", "pattern": "^[a-z]{1,8}$"}}  # fmt: skip
    request["additionalProperties"] = False
    messages = narrow["components"]["schemas"]["MessagesRequest"]
    messages["properties"] = {
        "model": props["model"], "messages": props["messages"], "stream": {"type": "boolean"},
        "max_tokens": {"type": "integer", "minimum": 1, "maximum": 64},
        "temperature": {"type": "number", "minimum": 0, "maximum": 1},
        "system": {"type": "string", "minLength": 1, "maxLength": 200},
    }  # fmt: skip
    messages["additionalProperties"] = False
    for path in ("/v1/chat/completions", "/v1/messages"):
        for parameter in narrow["paths"][path]["post"]["parameters"]:
            if parameter["name"] != "anthropic-version":
                parameter["schema"] = dict(_ID)
    return narrow


def _schemathesis(stack: LocalStack, workdir: Path, location: str, *extra: str) -> dict[str, Any]:
    st = shutil.which("st") or str(Path(sys.executable).with_name("st"))
    report_json = workdir / "report.json"
    result = subprocess.run(
        [
            st, "run", location, "--url", stack.gateway_url,
            "--checks", "no_server_error_from_the_gateway",
            "--header", f"Authorization: Bearer {CLIENT.key}",
            "--max-examples", str(EXAMPLES), "--generation-deterministic",
            "--request-timeout", "30", "--no-color",
            "--report", "json", "--report-json-path", str(report_json), *extra,
        ],
        capture_output=True, text=True, timeout=1200, check=False, cwd=workdir,
        env={**os.environ, "SCHEMATHESIS_HOOKS": HOOKS},
    )  # fmt: skip
    # The client key schemathesis sent must not end up in what pytest prints on failure.
    output = (result.stdout + result.stderr).replace(CLIENT.key, "<client key>")
    assert report_json.exists(), output[-6000:]
    run: dict[str, Any] = json.loads(report_json.read_text())
    run["output_tail"] = output[-6000:]
    return run


@pytest.mark.timeout(1800)
@pytest.mark.parametrize("variant", ["served", "accepted"])
def test_fuzzed_requests_never_get_a_5xx_from_the_gateway(
    stack: LocalStack, report: Report, record_property: Any, tmp_path: Path, variant: str
) -> None:
    document = httpx.get(f"{stack.gateway_url}/openapi.json").json()
    extra: list[str] = []
    if variant == "accepted":
        path = tmp_path / "openapi-accepted.json"
        path.write_text(json.dumps(narrowed(document)))
        location = str(path)
        extra = ["--mode", "positive", "--include-path", "/v1/chat/completions",
                 "--include-path", "/v1/messages"]  # fmt: skip
    else:
        location = f"{stack.gateway_url}/openapi.json"
    statuses_before, provider_before = requests_by_status(stack), emulator_stats(stack)

    run = _schemathesis(stack, tmp_path, location, *extra)

    statuses = requests_by_status(stack) - statuses_before
    reached_provider = emulator_stats(stack)["requests"] - provider_before["requests"]
    cases = run["test_cases"]
    values = {
        "examples_per_operation": EXAMPLES, "generated": cases["generated"],
        "with_failures": cases["with_failures"], "errored": cases["errored"],
        "llm_calls_by_status": dict(sorted(statuses.items())),
        "reached_provider": reached_provider, "running_s": round(run["running_time"], 1),
    }  # fmt: skip
    report.add(f"fuzz_{variant}", **values)
    for name, value in values.items():
        record_property(name, value)
    print(f"fuzz ({variant}): {cases['generated']} cases, {cases['with_failures']} failing, "
          f"{cases['errored']} errored; LLM calls by status {dict(statuses)}; "
          f"{reached_provider} reached the provider")  # fmt: skip

    assert run["exit_code"] == 0, run["output_tail"]
    assert cases["with_failures"] == 0, run["output_tail"]
    assert cases["errored"] == 0, run["output_tail"]
    assert cases["generated"] >= EXAMPLES
    if variant == "accepted":
        # The narrowed pass must really exercise the chain, not only the gateway's checks.
        assert statuses["2xx"] > 0, values
        assert reached_provider > 0, values
