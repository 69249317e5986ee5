"""The verification report's logic over recorded answers of the cluster and Langfuse."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from platform_deploy.config.deploy_settings import Probe
from platform_deploy.engine.verification import (
    Check,
    completion_check,
    error_observation_check,
    exit_code,
    failing_request_check,
    probe_check,
    render_table,
    rollout_check,
    trace_check,
)

RECORDED = Path(__file__).parent / "recorded"
SESSION = "verify-8f0e"


def _load(name: str) -> Any:
    return json.loads((RECORDED / name).read_text())


def test_rollouts() -> None:
    ready, rolling, stale = (rollout_check(w) for w in _load("workloads.json"))
    assert ready.ok
    assert not rolling.ok
    assert "1/2 updated" in rolling.detail
    assert not stale.ok
    assert "latest spec" in stale.detail


def test_complete_generation_passes() -> None:
    check = trace_check(SESSION, _load("langfuse_traces.json"), _load("langfuse_observations.json"))
    assert check.ok, check.detail
    assert "claude-sonnet-4-20250514" in check.detail


def test_trace_of_another_session_does_not_count() -> None:
    check = trace_check("other", _load("langfuse_traces.json"), _load("langfuse_observations.json"))
    assert not check.ok


def test_generation_without_cost_or_usage_fails_naming_what_lacks() -> None:
    observations = _load("langfuse_observations.json")
    generation = observations["data"][0]
    generation.update(calculatedTotalCost=None, costDetails={}, usage={"unit": "TOKENS"})
    generation.update(usageDetails={}, latency=None, startTime=None)
    check = trace_check(SESSION, _load("langfuse_traces.json"), observations)
    assert not check.ok
    assert check.detail == "generation lacks cost > 0, latency, usage"


def test_cost_from_cost_details_when_calculated_total_is_absent() -> None:
    observations = _load("langfuse_observations.json")
    del observations["data"][0]["calculatedTotalCost"]
    assert trace_check(SESSION, _load("langfuse_traces.json"), observations).ok


def test_error_observation() -> None:
    assert error_observation_check(SESSION, _load("langfuse_observations_error.json")).ok
    assert not error_observation_check(SESSION, _load("langfuse_observations.json")).ok


def test_completion_and_failing_request() -> None:
    body = {
        "model": "claude-sonnet",
        "choices": [{"message": {"role": "assistant", "content": "hi"}}],
        "usage": {"total_tokens": 21},
    }
    assert completion_check(200, body).ok
    assert not completion_check(200, {"choices": []}).ok
    assert not completion_check(503, None).ok
    assert failing_request_check(500).ok
    assert not failing_request_check(200).ok


def test_probes_compare_with_what_is_expected() -> None:
    open_ = Probe("backend-to-redis", {"component": "backend"}, "default", "redis", 6379, "open")
    closed = Probe("unlabelled-to-redis", {}, "default", "redis", 6379, "closed")
    assert probe_check(open_, 0).ok
    assert not probe_check(open_, 1).ok
    assert probe_check(closed, 1).ok
    assert not probe_check(closed, 0).ok
    assert not probe_check(closed, None).ok


def test_report_and_exit_code() -> None:
    checks = [Check("a", True, "fine"), Check("b", False, "broken")]
    table = render_table(checks)
    assert table[-1] == "1 passed, 1 failed"
    assert "FAIL" in table[3]
    assert exit_code(checks) == 1
    assert exit_code(checks[:1]) == 0
    assert exit_code([]) == 1
