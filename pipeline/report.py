"""How a pipeline run is told: a line per stage, failures in one line, the output's tail, and
the summary files (summary.json, GitHub's job summary) with the disk use after each stage."""

from __future__ import annotations

import json
import os
import shlex
import sys
from collections.abc import Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING

import dagger

from pipeline import disk_usage, stages
from pipeline.disk_usage import DiskUsage
from platform_deploy.config.durations import human_duration

if TYPE_CHECKING:
    from pipeline.run import PipelineRun

OUTPUT_TAIL_LINES = 60


def first_line(text: str, limit: int = 200) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    line = lines[0] if lines else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


def first_error(error: BaseException) -> BaseException:
    """The first real error inside the exception groups anyio's task groups raise."""
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = error.exceptions[0]
    return error


def describe_error(error: Exception) -> str:
    """One line for the summary: the failed command and its last words, or the error."""
    leaf = first_error(error)
    if isinstance(leaf, dagger.ExecError):
        command = shlex.join(leaf.command)
        if len(command) > 60:
            command = command[:59] + "…"
        last = [line for line in (leaf.stderr or leaf.stdout).splitlines() if line.strip()]
        said = f": {first_line(last[-1], 120)}" if last else ""
        return f"`{command}` exited with {leaf.exit_code}{said}"
    return first_line(f"{type(leaf).__name__}: {leaf}")


def connection_problem(error: dagger.DaggerError) -> str:
    """Why no session could start, in a clause: the SDK's own messages, reworded."""
    inner = first_line(str(error.args[0]) if error.args else "", 240)
    said = f": {inner}" if inner else ""
    if isinstance(error, dagger.DownloadError):
        version = dagger_cli_version()
        return f"the Dagger CLI {version} is not installed and could not be downloaded{said}"
    if isinstance(error, dagger.SessionError):
        return f"the Dagger engine session did not start{said}"
    return f"the Dagger engine did not answer{said}"


def dagger_cli_version() -> str:
    from importlib import metadata

    return metadata.version("dagger-io")


def print_output_tail(label: str, stdout: str, stderr: str) -> None:
    lines = (stdout.rstrip() + "\n" + stderr.rstrip()).strip().splitlines()
    print(f"\n[pipeline] {label} failed; its last {OUTPUT_TAIL_LINES} lines:", file=sys.stderr)
    for line in lines[-OUTPUT_TAIL_LINES:]:
        print(f"  {line}", file=sys.stderr)


def report_progress(result: stages.StageResult) -> None:
    detail = f": {result.detail}" if result.detail else ""
    took = human_duration(result.seconds)
    print(f"[pipeline] {result.stage} {result.outcome.value} ({took}){detail}", file=sys.stderr)


def summary_document(
    run: PipelineRun, results: Sequence[stages.StageResult], total_seconds: float
) -> dict[str, object]:
    """summary.json: each stage with its result and the disk use after it."""

    def disk(usage: DiskUsage | None) -> dict[str, object] | None:
        return asdict(usage) if usage is not None else None

    return {
        "run": run.run_id,
        "revision": run.revision,
        "outcome": stages.overall(results).value,
        "seconds": round(total_seconds, 1),
        "docker_hub": run.options.docker_hub.note,
        "disk_before": disk(run.disk_before),
        "stages": [
            {**asdict(result), "disk": disk(run.disk.get(result.stage))} for result in results
        ],
        "diagnostics": str(run.diagnostics_dir) if run.diagnostics_dir else None,
    }


def disk_rows(
    run: PipelineRun, results: Sequence[stages.StageResult]
) -> list[tuple[str, DiskUsage]]:
    rows = [("start", run.disk_before)] if run.disk_before is not None else []
    rows.extend((r.stage, run.disk[r.stage]) for r in results if r.stage in run.disk)
    return rows


def write_reports(
    run: PipelineRun, results: Sequence[stages.StageResult], total_seconds: float
) -> None:
    run.run_dir.mkdir(parents=True, exist_ok=True)
    summary = summary_document(run, results, total_seconds)
    (run.run_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if step_summary:
        with open(step_summary, "a", encoding="utf-8") as stream:
            stream.write("## Pipeline\n\n" + stages.format_markdown(results, total_seconds) + "\n")
            rows = disk_rows(run, results)
            if rows:
                stream.write("\n### Disk use\n\n" + disk_usage.format_markdown(rows) + "\n")
