"""The whole pipeline, for real: images built, k3s started, the ci environment deployed and
verified. Needs a container engine (Dagger starts its engine there) and the Dagger CLI (on
PATH, in the SDK's cache, or downloaded by the SDK): each test skips with the exact reason
where either is missing. It takes as long as `invoke ci`'s pipeline (pipeline/README.md);
`invoke e2e --skip-pipeline` leaves these tests out, as `invoke ci` and GitHub do (the
pipeline runs on its own there).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pipeline.dagger_cli import dagger_cli_problem
from pipeline.stages import PIPELINE

pytestmark = [pytest.mark.e2e, pytest.mark.pipeline]


@pytest.fixture(autouse=True, scope="module")
def dagger_cli() -> None:
    problem = dagger_cli_problem()
    if problem is not None:
        pytest.skip(problem)


REPO_ROOT = Path(__file__).resolve().parents[2]
PIPELINE_TIMEOUT_S = 3600


def run_pipeline(out: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    result = subprocess.run(
        [sys.executable, "-m", "pipeline", "--out", str(out), *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=PIPELINE_TIMEOUT_S,
        check=False,
    )
    summaries = sorted(out.glob("*/summary.json"))
    assert summaries, f"no summary written:\n{result.stderr[-5000:]}"
    summary: dict[str, Any] = json.loads(summaries[-1].read_text())
    return result, summary


def outcomes(summary: dict[str, Any]) -> dict[str, str]:
    return {stage["stage"]: stage["outcome"] for stage in summary["stages"]}


@pytest.mark.timeout(PIPELINE_TIMEOUT_S + 60)
def test_the_pipeline_deploys_and_verifies_the_platform(tmp_path: Path) -> None:
    result, summary = run_pipeline(tmp_path)
    diagnostics = summary.get("diagnostics")
    assert result.returncode == 0, (
        f"{result.stdout[-3000:]}\n{result.stderr[-5000:]}\ndiagnostics: {diagnostics}"
    )
    assert outcomes(summary) == {
        **{stage.name: "passed" for stage in PIPELINE},
        "diagnostics": "skipped",  # nothing failed
        "publish": "skipped",  # not requested
    }
    # The summary table closes the output: every stage with its duration and result.
    table = result.stdout[result.stdout.index("stage ") :]
    for stage in PIPELINE:
        assert stage.name in table
    assert "total" in table


@pytest.mark.timeout(2 * 1800)
def test_a_second_run_with_nothing_changed_builds_from_the_cache(tmp_path: Path) -> None:
    """Building and loading the images twice: the second comes from the engine's cache."""
    first, first_summary = run_pipeline(tmp_path / "first", "--until", "load-images")
    assert first.returncode == 0, first.stderr[-5000:]
    second, second_summary = run_pipeline(tmp_path / "second", "--until", "load-images")
    assert second.returncode == 0, second.stderr[-5000:]
    took = {
        name: {s["stage"]: s["seconds"] for s in summary["stages"]}
        for name, summary in (("first", first_summary), ("second", second_summary))
    }
    # An earlier run (the test above) may have warmed the cache already: then both are fast.
    assert took["second"]["build-images"] <= max(30.0, took["first"]["build-images"] / 3), took
