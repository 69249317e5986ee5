"""The benchmark's rate ladder (bench.loadgen.step_up): a missed step is run once more,
held if either run held it, and the ladder stops after two misses in a row."""

from __future__ import annotations

from typing import Any

from bench.loadgen import step_up

RATES = (100.0, 200.0, 300.0, 400.0)


def _ladder(outcomes: dict[float, list[float]]) -> tuple[Any, list[float]]:
    """Run step_up where each rate's runs give the p99s listed, in order."""
    asked: list[float] = []

    def run_at(rate: float) -> dict[str, Any]:
        asked.append(rate)
        p99 = outcomes[rate].pop(0)
        return {"errors": 0, "latency_ms": {"p50": 1.0, "p99": p99}}

    return step_up(run_at, RATES), asked


def test_every_step_held_runs_each_rate_once() -> None:
    result, asked = _ladder({rate: [5.0] for rate in RATES})
    assert asked == list(RATES)
    assert result["highest_rate_p99_under_50ms"] == 400.0


def test_one_stall_is_run_again_and_the_ladder_goes_on() -> None:
    result, asked = _ladder({100.0: [5.0], 200.0: [80.0, 6.0], 300.0: [7.0], 400.0: [8.0]})
    assert asked == [100.0, 200.0, 200.0, 300.0, 400.0]
    assert result["highest_rate_p99_under_50ms"] == 400.0
    step = result["steps"][1]
    assert step["first_run_missed"] is True
    assert step["latency_ms"]["p99"] == 6.0  # the run that held
    assert step["other_run"]["latency_ms"]["p99"] == 80.0  # kept beside it


def test_two_misses_in_a_row_stop_the_ladder() -> None:
    result, asked = _ladder({100.0: [5.0], 200.0: [5.0], 300.0: [60.0, 70.0], 400.0: [5.0]})
    assert asked == [100.0, 200.0, 300.0, 300.0]
    assert result["highest_rate_p99_under_50ms"] == 200.0


def test_errors_count_as_a_miss() -> None:
    asked: list[float] = []

    def run_at(rate: float) -> dict[str, Any]:
        asked.append(rate)
        return {"errors": 1 if rate >= 200 else 0, "latency_ms": {"p50": 1.0, "p99": 2.0}}

    result = step_up(run_at, RATES)
    assert asked == [100.0, 200.0, 200.0]
    assert result["highest_rate_p99_under_50ms"] == 100.0
