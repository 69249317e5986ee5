"""The GitHub workflow: every action pinned by commit with its release beside it, Dagger at
the SDK's version, and the paths it uploads and commits being the pipeline's own."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from dagger._engine._version import CLI_VERSION

from pipeline.__main__ import DEFAULT_OUT
from pipeline.digests import DIGESTS_FILE

REPO_ROOT = Path(__file__).resolve().parents[3]
WORKFLOW = REPO_ROOT / ".github" / "workflows" / "ci.yml"
PINNED = re.compile(r"^\s*(?:- )?uses: ([\w.-]+/[\w.-]+)@([0-9a-f]{40}) # v\d+\.\d+\.\d+$")


def workflow() -> dict[Any, Any]:
    data = yaml.safe_load(WORKFLOW.read_text())
    assert isinstance(data, dict)
    return data


def steps(job: str) -> list[dict[str, Any]]:
    found = workflow()["jobs"][job]["steps"]
    assert isinstance(found, list)
    return found


def step_using(job: str, action: str) -> dict[str, Any]:
    matches = [s for s in steps(job) if str(s.get("uses", "")).startswith(f"{action}@")]
    assert len(matches) == 1, f"{job} uses {action} {len(matches)} times"
    return matches[0]


def locked_version(package: str) -> str:
    lock = (REPO_ROOT / "locks" / "pipeline.txt").read_text()
    found = re.search(rf"^{re.escape(package)}==(\S+)", lock, flags=re.MULTILINE)
    assert found is not None
    return found.group(1)


def test_every_action_is_pinned_by_commit_with_its_release() -> None:
    lines = [line for line in WORKFLOW.read_text().splitlines() if "uses:" in line]
    assert lines
    for line in lines:
        assert PINNED.match(line), f"not pinned by commit with a # vX.Y.Z comment: {line.strip()}"


def test_dagger_is_the_sdks_version() -> None:
    assert workflow()["env"]["DAGGER_VERSION"] == locked_version("dagger-io") == CLI_VERSION
    dagger_step = step_using("pipeline", "dagger/dagger-for-github")
    assert dagger_step["with"]["version"] == "${{ env.DAGGER_VERSION }}"
    assert dagger_step["with"]["verb"] == "run"
    assert dagger_step["with"]["args"].startswith("python -m pipeline ")


def commands(job: str) -> list[str]:
    return [str(step["run"]).strip() for step in steps(job) if "run" in step]


def test_the_three_tiers_run_one_after_another_each_with_a_time_limit() -> None:
    jobs = workflow()["jobs"]
    assert list(jobs) == ["checks", "containers", "pipeline"]
    assert "needs" not in jobs["checks"]
    assert jobs["containers"]["needs"] == "checks"
    assert jobs["pipeline"]["needs"] == "containers"
    assert {name: job["timeout-minutes"] for name, job in jobs.items()} == {
        "checks": 30,
        "containers": 30,
        "pipeline": 90,
    }


def test_the_fast_job_runs_invoke_test_only() -> None:
    """No container engine work there: the tiers after it have their own jobs."""
    assert commands("checks") == ["bash scripts/bootstrap.sh", "invoke test"]


def test_the_container_job_runs_the_container_tier_without_the_pipeline() -> None:
    tiers = [c for c in commands("containers") if c.startswith("invoke")]
    assert tiers == ["invoke e2e --skip-pipeline"]
    upload = step_using("containers", "actions/upload-artifact")
    assert upload["if"] == "failure()"
    assert upload["with"]["path"] == "out/e2e/"


def test_docker_hub_credentials_come_only_from_secrets() -> None:
    dagger_step = step_using("pipeline", "dagger/dagger-for-github")
    for name in ("DOCKERHUB_USERNAME", "DOCKERHUB_TOKEN"):
        assert dagger_step["env"][name] == f"${{{{ secrets.{name} }}}}"
    login = next(s for s in steps("containers") if "docker login" in str(s.get("run", "")))
    assert "--password-stdin" in login["run"]
    assert login["env"]["DOCKERHUB_TOKEN"] == "${{ secrets.DOCKERHUB_TOKEN }}"


def test_pip_is_cached_for_every_job() -> None:
    for job in ("checks", "containers", "pipeline"):
        assert step_using(job, "actions/setup-python")["with"]["cache"] == "pip"


def test_the_failure_folder_is_the_pipelines_output() -> None:
    upload = step_using("pipeline", "actions/upload-artifact")
    assert upload["if"] == "failure()"
    assert upload["with"]["path"] == f"{DEFAULT_OUT.relative_to(REPO_ROOT)}/"


def test_publishing_happens_on_main_only_and_commits_the_digests_file() -> None:
    publish = workflow()["jobs"]["pipeline"]["env"]["PUBLISH"]
    assert publish == "${{ github.event_name == 'push' && github.ref == 'refs/heads/main' }}"
    dagger_step = step_using("pipeline", "dagger/dagger-for-github")
    assert "env.PUBLISH == 'true' && '--publish'" in dagger_step["with"]["args"]
    assert dagger_step["env"]["REGISTRY_TOKEN"].startswith("${{ env.PUBLISH == 'true' && ")
    record = [s for s in steps("pipeline") if s.get("if") == "env.PUBLISH == 'true'"]
    assert len(record) == 1
    assert f"git add {DIGESTS_FILE.relative_to(REPO_ROOT)}" in record[0]["run"]
    assert "git push origin HEAD:main" in record[0]["run"]


def test_the_workflow_token_is_read_only_by_default() -> None:
    assert workflow()["permissions"] == {"contents": "read"}
    assert "permissions" not in workflow()["jobs"]["checks"]
    assert "permissions" not in workflow()["jobs"]["containers"]
