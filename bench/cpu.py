"""CPU time per process group from /proc, and how busy the rest of the machine was.

Every stack process leads its own process group (devstack.processes starts each in a new
session), so a server's CPU time is the utime+stime of every process in its group: its
workers and threads included. Reaped children's time (cutime+cstime) is counted too, so
a worker that exits mid-run does not take its CPU time with it. Clock ticks are 10 ms
here, so a figure needs a few hundred ticks (seconds of CPU) to be exact to 1%.

The machine's own counters (/proc/stat) say what else ran: CPU time the hypervisor gave
to other guests (steal), and CPU time of processes the bench does not know (another
engineer's test suite). Either makes a latency figure mean less; `busy_reasons` says so.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

PROC = Path("/proc")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

# Past these a run's latency says more about the machine than about the hop under test.
# Steal: the hypervisor ran someone else on our cores. Others: processes outside the
# bench, in cores (0.2 of a 2-core machine is a busy test suite). Lag: the load generator
# sent its requests late (1.2-1.4 ms p99 is its normal on an idle machine here).
BUSY_LIMITS = {"steal_pct": 2.0, "others_cores": 0.2, "generator_lag_ms_p99": 5.0}


class HasPid(Protocol):
    @property
    def pid(self) -> int | None: ...


@dataclass(frozen=True)
class SystemTicks:
    """The first line of /proc/stat: every core's ticks since boot."""

    busy: int  # user, nice, system, irq, softirq (guest time is inside user)
    idle: int  # idle and iowait
    steal: int

    @property
    def total(self) -> int:
        return self.busy + self.idle + self.steal


def parse_proc_stat(text: str) -> SystemTicks:
    fields = [int(v) for v in text.splitlines()[0].split()[1:]]
    fields += [0] * (8 - len(fields))  # kernels before 2.6.11 had no steal field
    user, nice, system, idle, iowait, irq, softirq, steal = fields[:8]
    return SystemTicks(busy=user + nice + system + irq + softirq, idle=idle + iowait, steal=steal)


def parse_pid_stat(text: str) -> tuple[int, int]:
    """(process group, CPU ticks: utime+stime+cutime+cstime) from /proc/<pid>/stat."""
    # The command name may hold spaces or parentheses: fields start after the last ')'.
    fields = text.rpartition(")")[2].split()
    return int(fields[2]), sum(int(v) for v in fields[11:15])


def group_ticks(leaders: set[int]) -> dict[int, int]:
    """CPU ticks of every process in each of these process groups, one pass over /proc."""
    totals = dict.fromkeys(leaders, 0)
    for stat in PROC.glob("[0-9]*/stat"):
        try:
            group, ticks = parse_pid_stat(stat.read_text())
        except (OSError, ValueError, IndexError):
            continue  # the process exited while we looked
        if group in totals:
            totals[group] += ticks
    return totals


@dataclass(frozen=True)
class CpuSample:
    at: float  # time.monotonic()
    groups: Mapping[str, int]  # CPU ticks by tracked group name
    loadgen_s: float  # this process's CPU seconds: the load generator
    system: SystemTicks


class CpuMeter:
    """Samples the CPU time of named process groups; `usage` turns two samples into figures."""

    def __init__(self, processes: Mapping[str, HasPid] | None = None) -> None:
        self.processes: dict[str, HasPid] = dict(processes or {})

    def track(self, name: str, process: HasPid) -> None:
        self.processes[name] = process

    def forget(self, name: str) -> None:
        self.processes.pop(name, None)

    def sample(self) -> CpuSample:
        leaders = {name: p.pid for name, p in self.processes.items() if p.pid is not None}
        ticks = group_ticks(set(leaders.values()))
        return CpuSample(
            at=time.monotonic(),
            groups={name: ticks[pid] for name, pid in leaders.items()},
            loadgen_s=time.process_time(),
            system=parse_proc_stat((PROC / "stat").read_text()),
        )


def usage(before: CpuSample, after: CpuSample, requests: int) -> dict[str, Any]:
    """CPU ms per request of each group, and what else the machine did meanwhile.

    `others_cores`: CPU the machine spent outside the tracked groups and the load
    generator, in cores (other processes; the kernel's own work is in it too)."""
    elapsed = max(after.at - before.at, 1e-9)
    seconds = {
        name: (after.groups[name] - before.groups[name]) / CLOCK_TICKS
        for name in after.groups
        if name in before.groups
    }
    loadgen = after.loadgen_s - before.loadgen_s
    ticks = SystemTicks(
        *(getattr(after.system, f) - getattr(before.system, f) for f in ("busy", "idle", "steal"))
    )
    machine_busy = ticks.busy / CLOCK_TICKS
    return {
        "requests": requests,
        "elapsed_s": round(elapsed, 3),
        "ms_per_request": {n: round(s * 1000 / max(requests, 1), 3) for n, s in seconds.items()},
        "cores": {n: round(s / elapsed, 3) for n, s in seconds.items()},
        "loadgen_ms_per_request": round(loadgen * 1000 / max(requests, 1), 3),
        "steal_pct": round(100 * ticks.steal / ticks.total, 2) if ticks.total else 0.0,
        "others_cores": round(
            max(0.0, machine_busy - sum(seconds.values()) - loadgen) / elapsed, 3
        ),
        "tick_ms": round(1000 / CLOCK_TICKS, 3),
        # One clock tick spread over the run's requests: a figure is no finer than this.
        "resolution_ms_per_request": round(1000 / CLOCK_TICKS / max(requests, 1), 3),
    }


def busy_reasons(run: Mapping[str, Any]) -> list[str]:
    """Why the machine was too busy during this run for its latency to mean much, if it was."""
    reasons = []
    cpu = run.get("cpu") or {}
    if cpu.get("steal_pct", 0.0) > BUSY_LIMITS["steal_pct"]:
        reasons.append(f"CPU steal {cpu['steal_pct']:.1f}%")
    if cpu.get("others_cores", 0.0) > BUSY_LIMITS["others_cores"]:
        reasons.append(f"other processes used {cpu['others_cores']:.2f} cores")
    lag = run.get("generator_lag_ms_p99")
    if lag is not None and lag > BUSY_LIMITS["generator_lag_ms_p99"]:
        reasons.append(f"load generator {lag:.1f} ms late (p99)")
    return reasons
