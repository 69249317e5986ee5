"""Paired runs, shipped config against a candidate: their differences and the verdict.

Standard library only (bench.derive re-derives verdicts from a run's JSON with it)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bench.stats import same_sign, spread

# A candidate helps if every pair agrees and the median difference is at least this: CPU
# per request (what sizes the deployment) or the median latency (~5% of LiteLLM's).
CPU_GAIN_PCT = 3.0
P50_GAIN_MS = 1.0
# Fewer pairs than this on a quiet machine (neither run busy: bench.cpu.busy_reasons) and
# no verdict is given: with two, every pair agreeing happens by chance one time in two.
MIN_QUIET_PAIRS = 3


def _quiet(pair: Mapping[str, Any]) -> bool:
    return not any(pair.get(side, {}).get("busy") for side in ("shipped", "candidate"))


def verdict(pairs: Sequence[Mapping[str, Any]], problems: Sequence[str]) -> str:
    """`helps`, `worse`, `no measurable difference`, `breaks behaviour`, or `too few quiet
    pairs`, from the differences (candidate minus shipped) in CPU ms per request and p50
    latency of the pairs that ran on a quiet machine."""
    if problems:
        return "breaks behaviour"
    quiet = [p for p in pairs if _quiet(p)]
    if len(quiet) < MIN_QUIET_PAIRS:
        return f"too few quiet pairs ({len(quiet)} of {len(pairs)})"
    cpu = [p["cpu_delta_pct"] for p in quiet]
    p50 = [p["p50_delta_ms"] for p in quiet]
    cpu_median, p50_median = spread(cpu)["median"], spread(p50)["median"]
    better = (same_sign(cpu) < 0 and cpu_median <= -CPU_GAIN_PCT) or (
        same_sign(p50) < 0 and p50_median <= -P50_GAIN_MS
    )
    worse = (same_sign(cpu) > 0 and cpu_median >= CPU_GAIN_PCT) or (
        same_sign(p50) > 0 and p50_median >= P50_GAIN_MS
    )
    if better and not worse:
        return "helps"
    if worse and not better:
        return "worse"
    return "no measurable difference"


def to_pair(
    shipped: Mapping[str, Any],
    candidate: Mapping[str, Any],
    cpu_group: tuple[str, str],
) -> dict[str, Any]:
    base_cpu = shipped["cpu"]["ms_per_request"][cpu_group[0]]
    cand_cpu = candidate["cpu"]["ms_per_request"][cpu_group[1]]
    return {
        "shipped": {
            "p50_ms": shipped["latency_ms"]["p50"],
            "p99_ms": shipped["latency_ms"]["p99"],
            "cpu_ms_per_request": base_cpu,
            "errors": shipped["errors"],
            "busy": shipped["busy"],
        },
        "candidate": {
            "p50_ms": candidate["latency_ms"]["p50"],
            "p99_ms": candidate["latency_ms"]["p99"],
            "cpu_ms_per_request": cand_cpu,
            "errors": candidate["errors"],
            "busy": candidate["busy"],
        },
        "p50_delta_ms": round(candidate["latency_ms"]["p50"] - shipped["latency_ms"]["p50"], 3),
        "p99_delta_ms": round(candidate["latency_ms"]["p99"] - shipped["latency_ms"]["p99"], 3),
        "cpu_delta_ms": round(cand_cpu - base_cpu, 3),
        "cpu_delta_pct": round(100 * (cand_cpu - base_cpu) / base_cpu, 2) if base_cpu else 0.0,
    }


def summarize_pairs(pairs: Sequence[Mapping[str, Any]], problems: Sequence[str]) -> dict[str, Any]:
    failed = sum(p["candidate"]["errors"] for p in pairs)
    problems = [*problems, *([f"{failed} requests failed"] if failed else [])]
    return {
        "pairs": list(pairs),
        "p50_delta_ms": spread(p["p50_delta_ms"] for p in pairs),
        "p99_delta_ms": spread(p["p99_delta_ms"] for p in pairs),
        "cpu_delta_ms": spread(p["cpu_delta_ms"] for p in pairs),
        "cpu_delta_pct": spread(p["cpu_delta_pct"] for p in pairs),
        "shipped_cpu_ms_per_request": spread(p["shipped"]["cpu_ms_per_request"] for p in pairs),
        "candidate_cpu_ms_per_request": spread(p["candidate"]["cpu_ms_per_request"] for p in pairs),
        "errors": sum(p["shipped"]["errors"] + p["candidate"]["errors"] for p in pairs),
        "busy_runs": sum(bool(p["shipped"]["busy"]) + bool(p["candidate"]["busy"]) for p in pairs),
        "quiet_pairs": sum(1 for p in pairs if _quiet(p)),
        "behaviour_problems": list(problems),
        "verdict": verdict(pairs, problems),
    }
