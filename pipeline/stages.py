"""Stages, their dependencies and order; a runner that starts each stage as soon as what it
needs has passed; and the summary table (stage, duration, result). No Dagger here."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

import anyio

from platform_deploy.config.durations import human_duration


class Outcome(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class Stage:
    name: str
    what: str
    needs: tuple[str, ...] = ()
    # A stage with this set runs only when one of these stages failed (diagnostics).
    after_failure_of: tuple[str, ...] = ()


@dataclass(frozen=True)
class StageResult:
    stage: str
    outcome: Outcome
    seconds: float
    detail: str = ""


class StageSkipped(Exception):
    """Raised by a stage that decides at run time that it has nothing to do."""


# k3s imports image archives only as it starts (Dagger cannot run a command in a running
# service), so loading the images comes before starting k3s, not after.
PIPELINE: tuple[Stage, ...] = (
    Stage("build-images", "gateway, LiteLLM and emulator images from their Dockerfiles"),
    Stage("build-tools", "tools container: Python, Helm, kubectl and this repository"),
    Stage("load-images", "named image archives for k3s's import folder", ("build-images",)),
    Stage(
        "start-k3s",
        "k3s as a service; node Ready; the images imported",
        ("load-images", "build-tools"),
    ),
    Stage("deploy", "python -m platform_deploy deploy --env ci --no-verify", ("start-k3s",)),
    Stage("verify", "python -m platform_deploy verify --env ci", ("deploy",)),
    Stage(
        "diagnostics",
        "pod logs, events and Helm status into a local folder",
        ("build-tools",),
        after_failure_of=("start-k3s", "deploy", "verify"),
    ),
    Stage("publish", "push the verified images, record their digests", ("verify",)),
)


def execution_order(stages: Sequence[Stage]) -> list[Stage]:
    """Stages in dependency order; ties keep the order given. Rejects unknown names and cycles."""
    by_name = {stage.name: stage for stage in stages}
    if len(by_name) != len(stages):
        raise ValueError("two stages share a name")
    for stage in stages:
        for dependency in stage.needs + stage.after_failure_of:
            if dependency not in by_name:
                raise ValueError(f"stage {stage.name!r} depends on unknown stage {dependency!r}")
    ordered: list[Stage] = []
    placed: set[str] = set()
    while len(ordered) < len(stages):
        ready = [
            stage
            for stage in stages
            if stage.name not in placed
            and all(d in placed for d in stage.needs + stage.after_failure_of)
        ]
        if not ready:
            stuck = sorted(stage.name for stage in stages if stage.name not in placed)
            raise ValueError(f"stages depend on each other in a cycle: {', '.join(stuck)}")
        ordered.extend(ready)
        placed.update(stage.name for stage in ready)
    return ordered


def up_to(stages: Sequence[Stage], last: str) -> list[Stage]:
    """`last` and everything it needs, in the order given (for --until)."""
    by_name = {stage.name: stage for stage in stages}
    if last not in by_name:
        raise ValueError(f"no stage named {last!r}")
    wanted: set[str] = set()
    pending = [last]
    while pending:
        name = pending.pop()
        if name not in wanted:
            wanted.add(name)
            pending.extend(by_name[name].needs)
    return [stage for stage in stages if stage.name in wanted]


Action = Callable[[], Awaitable[str | None]]


async def run_stages(
    stages: Sequence[Stage],
    actions: Mapping[str, Action],
    describe_error: Callable[[Exception], str] = str,
    on_result: Callable[[StageResult], None] = lambda result: None,
    clock: Callable[[], float] = time.monotonic,
    after_stage: Callable[[StageResult], Awaitable[None]] | None = None,
) -> list[StageResult]:
    """Run every stage once its dependencies are settled; independent stages run concurrently.

    An action returns an optional detail line, raises StageSkipped, or raises anything else
    to fail. A stage whose needs did not all pass is skipped, and so is a failure-only stage
    when nothing it watches failed. Results come back in execution order.

    `after_stage` (the disk measurement) follows each stage that ran, passed or failed: after
    its result is recorded, so it is not in the stage's time and no dependent waits for it.
    """
    ordered = execution_order(stages)
    missing = [stage.name for stage in ordered if stage.name not in actions]
    if missing:
        raise ValueError(f"no action for stage(s): {', '.join(missing)}")
    settled = {stage.name: anyio.Event() for stage in ordered}
    results: dict[str, StageResult] = {}

    def record(result: StageResult) -> None:
        results[result.stage] = result
        on_result(result)
        settled[result.stage].set()

    async def run_one(stage: Stage) -> None:
        for dependency in stage.needs + stage.after_failure_of:
            await settled[dependency].wait()
        blocked = [d for d in stage.needs if results[d].outcome is not Outcome.PASSED]
        if blocked:
            record(StageResult(stage.name, Outcome.SKIPPED, 0.0, f"{blocked[0]} did not pass"))
            return
        watched = stage.after_failure_of
        if watched and not any(results[d].outcome is Outcome.FAILED for d in watched):
            record(StageResult(stage.name, Outcome.SKIPPED, 0.0, "nothing failed"))
            return
        started = clock()
        try:
            detail = await actions[stage.name]()
        except StageSkipped as skipped:
            record(StageResult(stage.name, Outcome.SKIPPED, clock() - started, str(skipped)))
        except Exception as error:  # a failed stage is a result, not a crash of the run
            record(
                StageResult(stage.name, Outcome.FAILED, clock() - started, describe_error(error))
            )
        else:
            record(StageResult(stage.name, Outcome.PASSED, clock() - started, detail or ""))
        if after_stage is not None and results[stage.name].outcome is not Outcome.SKIPPED:
            await after_stage(results[stage.name])

    async with anyio.create_task_group() as group:
        for stage in ordered:
            group.start_soon(run_one, stage)
    return [results[stage.name] for stage in ordered]


def overall(results: Iterable[StageResult]) -> Outcome:
    """Failed if any stage failed; otherwise passed (skips are not failures)."""
    return (
        Outcome.FAILED
        if any(result.outcome is Outcome.FAILED for result in results)
        else Outcome.PASSED
    )


def format_summary(results: Sequence[StageResult], total_seconds: float) -> str:
    """A plain-text table: one row a stage, then the total."""
    rows = [(r.stage, human_duration(r.seconds), r.outcome.value, r.detail) for r in results]
    rows.append(("total", human_duration(total_seconds), overall(results).value, ""))
    name_width = max(len("stage"), *(len(row[0]) for row in rows))
    time_width = max(len("duration"), *(len(row[1]) for row in rows))
    lines = [f"{'stage':<{name_width}}  {'duration':>{time_width}}  result"]
    for name, duration, outcome, detail in rows:
        line = f"{name:<{name_width}}  {duration:>{time_width}}  {outcome}"
        lines.append(f"{line:<{name_width + time_width + 11}}  {detail}".rstrip())
    return "\n".join(lines)


def format_markdown(results: Sequence[StageResult], total_seconds: float) -> str:
    """The same table for GitHub's job summary."""
    lines = ["| stage | duration | result | detail |", "| --- | ---: | --- | --- |"]
    for r in results:
        detail = r.detail.replace("|", "\\|")
        lines.append(f"| {r.stage} | {human_duration(r.seconds)} | {r.outcome.value} | {detail} |")
    lines.append(
        f"| **total** | {human_duration(total_seconds)} | **{overall(results).value}** | |"
    )
    return "\n".join(lines)
