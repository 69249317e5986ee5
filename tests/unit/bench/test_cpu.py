"""CPU time per process group (bench.cpu): /proc's formats, the arithmetic of a run's usage,
when a run counts as too busy, and a real process group measured through /proc."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import pytest

from bench.cpu import (
    BUSY_LIMITS,
    CLOCK_TICKS,
    CpuMeter,
    CpuSample,
    SystemTicks,
    busy_reasons,
    parse_pid_stat,
    parse_proc_stat,
    usage,
)

# /proc/<pid>/stat of a process whose name holds a space and a parenthesis.
PID_STAT = (
    "4242 (uvicorn (w 1)) S 4200 4200 4200 0 -1 4194560 1000 0 0 0 "
    "150 30 7 3 20 0 3 0 12345 1000000 5000"
)


def test_a_pid_stat_gives_its_group_and_all_four_cpu_counters() -> None:
    group, ticks = parse_pid_stat(PID_STAT)
    assert group == 4200
    assert ticks == 150 + 30 + 7 + 3  # utime, stime, cutime, cstime


def test_proc_stat_splits_busy_idle_and_steal() -> None:
    ticks = parse_proc_stat("cpu  100 5 40 1000 20 3 2 9 0 0\ncpu0 50 2 20 500 10 1 1 4 0 0\n")
    assert ticks == SystemTicks(busy=100 + 5 + 40 + 3 + 2, idle=1000 + 20, steal=9)
    assert ticks.total == 150 + 1020 + 9


def _sample(at: float, groups: dict[str, int], loadgen: float, busy: int, steal: int) -> CpuSample:
    return CpuSample(at, groups, loadgen, SystemTicks(busy=busy, idle=10_000, steal=steal))


def test_usage_divides_each_groups_cpu_by_the_requests_and_finds_the_rest() -> None:
    hz = CLOCK_TICKS
    before = _sample(0.0, {"gateway": 0, "litellm": 0}, 1.0, busy=0, steal=0)
    after = _sample(
        10.0,
        {"gateway": hz // 2, "litellm": 5 * hz},  # 0.5 s and 5 s of CPU
        3.0,  # the load generator: 2 s
        busy=int(8.5 * hz),  # the machine: 8.5 s, so 1 s was someone else's
        steal=hz // 10,
    )
    figures = usage(before, after, requests=200)
    assert figures["ms_per_request"] == {"gateway": 2.5, "litellm": 25.0}
    assert figures["cores"] == {"gateway": 0.05, "litellm": 0.5}
    assert figures["loadgen_ms_per_request"] == 10.0
    assert figures["others_cores"] == pytest.approx(0.1, abs=0.002)
    steal, busy = hz // 10, int(8.5 * hz)  # the idle ticks did not move
    assert figures["steal_pct"] == round(100 * steal / (busy + steal), 2)


def test_a_quiet_run_is_not_busy_and_each_signal_past_its_limit_is_named() -> None:
    quiet = {"cpu": {"steal_pct": 0.1, "others_cores": 0.05}, "generator_lag_ms_p99": 1.3}
    assert busy_reasons(quiet) == []
    noisy = {
        "cpu": {
            "steal_pct": BUSY_LIMITS["steal_pct"] + 1,
            "others_cores": BUSY_LIMITS["others_cores"] + 0.3,
        },
        "generator_lag_ms_p99": BUSY_LIMITS["generator_lag_ms_p99"] + 10,
    }
    reasons = busy_reasons(noisy)
    assert len(reasons) == 3
    assert "steal" in reasons[0]
    assert "other processes" in reasons[1]
    assert "load generator" in reasons[2]


# A group leader that sleeps while its child (a worker, as uvicorn would fork) burns CPU.
BURNER = textwrap.dedent(
    """
    import subprocess, sys, time
    child = subprocess.Popen([sys.executable, "-c",
        "import time\\nend = time.process_time() + 0.6\\nwhile time.process_time() < end: pass"])
    child.wait()
    print("done", flush=True)
    time.sleep(30)
    """
)


class _Process:
    def __init__(self, popen: subprocess.Popen[bytes]) -> None:
        self.popen = popen

    @property
    def pid(self) -> int | None:
        return self.popen.pid


def test_the_meter_counts_a_groups_worker_through_proc() -> None:
    leader = subprocess.Popen(
        [sys.executable, "-c", BURNER], stdout=subprocess.PIPE, start_new_session=True
    )
    meter = CpuMeter({"burner": _Process(leader)})
    try:
        before = meter.sample()
        assert leader.stdout is not None
        assert leader.stdout.readline() == b"done\n"
        time.sleep(0.05)
        after = meter.sample()
    finally:
        leader.kill()
        leader.wait()
    burnt = usage(before, after, requests=1)["ms_per_request"]["burner"]
    # The worker burnt 0.6 s and was reaped by its leader: its time is in the group's.
    assert 500 <= burnt <= 2000
