"""The stage model: order, the runner's concurrency and skipping, and the summary table."""

from __future__ import annotations

import anyio
import pytest

from pipeline.stages import (
    PIPELINE,
    Action,
    Outcome,
    Stage,
    StageResult,
    StageSkipped,
    execution_order,
    format_markdown,
    format_summary,
    overall,
    run_stages,
    up_to,
)


def names(stages: list[Stage]) -> list[str]:
    return [stage.name for stage in stages]


def test_the_pipeline_runs_in_the_documented_order() -> None:
    assert names(execution_order(PIPELINE)) == [
        "build-images",
        "build-tools",
        "load-images",
        "start-k3s",
        "deploy",
        "verify",
        "diagnostics",
        "publish",
    ]


def test_every_stage_comes_after_what_it_needs() -> None:
    position = {stage.name: i for i, stage in enumerate(execution_order(PIPELINE))}
    for stage in PIPELINE:
        for dependency in stage.needs + stage.after_failure_of:
            assert position[dependency] < position[stage.name], (stage.name, dependency)


def test_images_and_tools_build_independently_and_k3s_needs_both() -> None:
    by_name = {stage.name: stage for stage in PIPELINE}
    assert by_name["build-images"].needs == ()
    assert by_name["build-tools"].needs == ()
    assert set(by_name["start-k3s"].needs) == {"load-images", "build-tools"}
    assert by_name["diagnostics"].after_failure_of == ("start-k3s", "deploy", "verify")
    assert by_name["publish"].needs == ("verify",)


def test_a_cycle_and_an_unknown_dependency_are_refused() -> None:
    with pytest.raises(ValueError, match="cycle: a, b"):
        execution_order([Stage("a", "", ("b",)), Stage("b", "", ("a",))])
    with pytest.raises(ValueError, match="unknown stage 'nope'"):
        execution_order([Stage("a", "", ("nope",))])
    with pytest.raises(ValueError, match="share a name"):
        execution_order([Stage("a", ""), Stage("a", "")])


def test_up_to_keeps_a_stage_and_what_it_needs() -> None:
    assert names(up_to(PIPELINE, "load-images")) == ["build-images", "load-images"]
    assert names(up_to(PIPELINE, "verify")) == [
        "build-images",
        "build-tools",
        "load-images",
        "start-k3s",
        "deploy",
        "verify",
    ]
    with pytest.raises(ValueError, match="no stage named"):
        up_to(PIPELINE, "nope")


class Clock:
    """A clock each action advances by hand, so durations are exact."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def run(
    stages: list[Stage] | tuple[Stage, ...],
    actions: dict[str, Action],
    clock: Clock | None = None,
) -> dict[str, StageResult]:
    async def main() -> list[StageResult]:
        return await run_stages(stages, actions, clock=clock or Clock())

    return {result.stage: result for result in anyio.run(main)}


def passing(detail: str = "") -> Action:
    async def action() -> str:
        return detail

    return action


def failing(message: str) -> Action:
    async def action() -> str:
        raise RuntimeError(message)

    return action


def test_independent_stages_run_concurrently_and_dependents_wait() -> None:
    events: list[str] = []
    both_started = anyio.Event()
    started: set[str] = set()

    def builder(name: str) -> Action:
        async def action() -> str:
            events.append(f"{name} started")
            started.add(name)
            if started == {"images", "tools"}:
                both_started.set()
            # Neither finishes before the other has started: they overlap.
            with anyio.fail_after(5):
                await both_started.wait()
            events.append(f"{name} done")
            return ""

        return action

    async def k3s() -> str:
        events.append("k3s started")
        return ""

    stages = [Stage("images", ""), Stage("tools", ""), Stage("k3s", "", ("images", "tools"))]
    results = run(stages, {"images": builder("images"), "tools": builder("tools"), "k3s": k3s})
    assert events[:2] == ["images started", "tools started"]
    assert events[-1] == "k3s started"
    assert {r.outcome for r in results.values()} == {Outcome.PASSED}


def test_a_failure_skips_what_needs_it_and_only_that() -> None:
    stages = [Stage("a", ""), Stage("b", "", ("a",)), Stage("c", "", ("b",)), Stage("d", "")]
    results = run(
        stages, {"a": failing("boom"), "b": passing(), "c": passing(), "d": passing("fine")}
    )
    assert results["a"] == StageResult("a", Outcome.FAILED, 0.0, "boom")
    assert results["b"] == StageResult("b", Outcome.SKIPPED, 0.0, "a did not pass")
    assert results["c"] == StageResult("c", Outcome.SKIPPED, 0.0, "b did not pass")
    assert results["d"].outcome is Outcome.PASSED
    assert results["d"].detail == "fine"


def pipeline_actions(**overrides: Action) -> dict[str, Action]:
    actions = {stage.name: passing() for stage in PIPELINE}
    actions.update({name.replace("_", "-"): action for name, action in overrides.items()})
    return actions


def test_diagnostics_run_only_after_a_failure() -> None:
    results = run(PIPELINE, pipeline_actions())
    assert results["diagnostics"].outcome is Outcome.SKIPPED
    assert results["diagnostics"].detail == "nothing failed"
    assert overall(results.values()) is Outcome.PASSED

    results = run(PIPELINE, pipeline_actions(verify=failing("gateway answered 503")))
    assert results["verify"].outcome is Outcome.FAILED
    assert results["diagnostics"].outcome is Outcome.PASSED
    assert results["publish"].outcome is Outcome.SKIPPED
    assert overall(results.values()) is Outcome.FAILED


def test_diagnostics_run_when_k3s_never_came_up() -> None:
    results = run(PIPELINE, pipeline_actions(start_k3s=failing("no Ready node within 300 s")))
    assert [results[n].outcome for n in ("deploy", "verify", "publish")] == [Outcome.SKIPPED] * 3
    assert results["diagnostics"].outcome is Outcome.PASSED


def test_a_stage_may_skip_itself() -> None:
    async def publish() -> str:
        raise StageSkipped("not requested (--publish)")

    results = run(PIPELINE, pipeline_actions(publish=publish))
    assert results["publish"].outcome is Outcome.SKIPPED
    assert results["publish"].detail == "not requested (--publish)"
    assert overall(results.values()) is Outcome.PASSED


def test_durations_come_from_the_clock() -> None:
    clock = Clock()

    def taking(seconds: float) -> Action:
        async def action() -> str:
            clock.now += seconds
            return ""

        return action

    results = run(
        [Stage("a", ""), Stage("b", "", ("a",))], {"a": taking(3), "b": taking(70)}, clock
    )
    assert results["a"].seconds == 3
    assert results["b"].seconds == 70


def test_every_stage_needs_an_action() -> None:
    with pytest.raises(ValueError, match="no action for stage"):
        run([Stage("a", "")], {})


SAMPLE = [
    StageResult("build-images", Outcome.PASSED, 133.2),
    StageResult("deploy", Outcome.FAILED, 61.0, "`python -m platform_deploy` exited with 1"),
    StageResult("verify", Outcome.SKIPPED, 0.0, "deploy did not pass"),
]


def test_the_summary_table_has_each_stage_its_duration_and_result() -> None:
    assert format_summary(SAMPLE, 200.0).splitlines() == [
        "stage         duration  result",
        "build-images    2m 13s  passed",
        "deploy          1m 01s  failed   `python -m platform_deploy` exited with 1",
        "verify            0.0s  skipped  deploy did not pass",
        "total           3m 20s  failed",
    ]


def test_the_markdown_summary_escapes_pipes() -> None:
    results = [StageResult("verify", Outcome.FAILED, 1.0, "a | b")]
    assert format_markdown(results, 1.0).splitlines() == [
        "| stage | duration | result | detail |",
        "| --- | ---: | --- | --- |",
        "| verify | 1.0s | failed | a \\| b |",
        "| **total** | 1.0s | **failed** | |",
    ]


def test_after_each_stage_that_ran_the_hook_runs_without_holding_up_what_follows() -> None:
    """The disk measurement: after passed and failed stages, not skipped ones, outside the
    stage's time, and the next stage starts before it finishes."""
    clock = Clock()
    measured: list[str] = []
    b_started = anyio.Event()

    async def measure(result: StageResult) -> None:
        clock.now += 100  # a slow measurement
        if result.stage == "a":
            with anyio.fail_after(5):
                await b_started.wait()  # b runs while a is still being measured
        measured.append(result.stage)

    async def b() -> str:
        b_started.set()
        raise RuntimeError("b broke")

    stages = [Stage("a", ""), Stage("b", "", ("a",)), Stage("c", "", ("b",))]

    async def main() -> list[StageResult]:
        return await run_stages(
            stages, {"a": passing(), "b": b, "c": passing()}, clock=clock, after_stage=measure
        )

    results = {result.stage: result for result in anyio.run(main)}
    assert sorted(measured) == ["a", "b"]  # c was skipped: nothing to measure
    assert results["a"].seconds == 0.0
    assert results["b"].outcome is Outcome.FAILED
    assert results["c"].outcome is Outcome.SKIPPED
