"""The benchmark's figures from its raw runs: overheads, CPU per request, the gateway's share
of the chain, the machine's noise, and the targets. Pure functions of the results dict,
so that the report, `python -m bench.capacity` and the tests read the same numbers."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from bench.hops import ALONE_GROUPS, ALONE_TARGETS, CHAIN_GROUPS, HOPS
from bench.pairs import verdict
from bench.stats import median, spread

Run = Mapping[str, Any]

TARGET_GATEWAY_CPU_MS = 0.5
TARGET_CHAIN_RATIO = 1.03


def _busy(runs: Iterable[Run]) -> int:
    return sum(1 for run in runs if run.get("busy"))


def figure(runs: list[Run], value: Callable[[Run], float], digits: int = 3) -> dict[str, Any]:
    """A figure over repeated runs: median and range, and how many ran on a busy machine."""
    return spread((value(r) for r in runs), digits) | {"busy_runs": _busy(runs)}


def paired(a: list[Run], b: list[Run], value: Callable[[Run, Run], float]) -> dict[str, Any]:
    """A figure of interleaved pairs (run i of a with run i of b)."""
    pairs = list(zip(a, b, strict=True))
    return spread(value(x, y) for x, y in pairs) | {"busy_runs": _busy([*a, *b])}


def _cpu(group: str, idle: Mapping[str, float]) -> Callable[[Run], float]:
    """A run's CPU ms per request in `group`, less what the group burns idle over the same
    time (`results["idle"]`, in cores): the requests' own cost."""

    def value(run: Run) -> float:
        cpu = run["cpu"]
        requests: int = max(int(cpu["requests"]), 1)
        idle_ms = idle.get(group, 0.0) * 1000 * float(cpu["elapsed_s"]) / requests
        return max(0.0, float(cpu["ms_per_request"][group]) - idle_ms)

    return value


def _p(key: str, q: str) -> Callable[[Run], float]:
    return lambda run: float(run[key][q])


def per_core(cpu: Mapping[str, Any]) -> dict[str, Any]:
    """Requests per second one core serves at this CPU per request (the range inverted);
    None where no CPU time was measured at all (fewer ticks than one per run)."""

    def rate(ms: float) -> int | None:
        return round(1000 / ms) if ms > 0 else None

    return {
        "median": rate(cpu["median"]),
        "min": rate(cpu["max"]),
        "max": rate(cpu["min"]),
        "n": cpu["n"],
    }


def idle_cores(results: Mapping[str, Any]) -> dict[str, float]:
    cores: dict[str, float] = results.get("idle", {}).get("cores", {})
    return cores


def cpu_figures(results: Mapping[str, Any]) -> dict[str, Any]:
    """CPU ms per request of each hop (idle CPU subtracted), over its repeated runs."""
    fixed, chain = results["fixed_rate"], results["litellm_chain"]
    idle = idle_cores(results)
    cpu = {
        hop: figure(fixed[ALONE_TARGETS[hop]], _cpu(group, idle))
        for hop, group in ALONE_GROUPS.items()
    }
    cpu["gateway_at_litellm_rate"] = figure(chain["gateway"], _cpu("gateway-direct", idle))
    cpu["gateway_in_chain"] = figure(chain["chain"], _cpu("gateway", idle))
    cpu["redis_in_chain"] = figure(chain["chain"], _cpu("redis", idle))
    # LiteLLM does the same work alone and behind the gateway (same metadata): both count.
    cpu["litellm"] = figure([*chain["litellm"], *chain["chain"]], _cpu("litellm", idle))
    cpu["chain"] = figure(chain["chain"], lambda r: sum(_cpu(g, idle)(r) for g in CHAIN_GROUPS))
    # Streamed calls: the gateway alone at the streaming rate, LiteLLM and the chain through it.
    stream = results["litellm_streaming"]
    cpu["gateway_streaming"] = figure(results["streaming"]["gateway"], _cpu("gateway-direct", idle))
    cpu["litellm_streaming"] = figure([*stream["litellm"], *stream["chain"]], _cpu("litellm", idle))
    cpu["chain_streaming"] = figure(
        stream["chain"], lambda r: sum(_cpu(g, idle)(r) for g in CHAIN_GROUPS)
    )
    return cpu


# Each figure's process groups, for their idle CPU (ms per second) beside it.
FIGURE_GROUPS: dict[str, tuple[str, ...]] = {
    **{hop: (group,) for hop, group in ALONE_GROUPS.items()},
    "gateway_at_litellm_rate": ("gateway-direct",),
    "gateway_in_chain": ("gateway",),
    "redis_in_chain": ("redis",),
    "litellm": ("litellm",),
    "chain": CHAIN_GROUPS,
    "gateway_streaming": ("gateway-direct",),
    "litellm_streaming": ("litellm",),
    "chain_streaming": CHAIN_GROUPS,
}


def idle_ms_per_s(results: Mapping[str, Any]) -> dict[str, float]:
    idle = idle_cores(results)
    return {
        name: round(1000 * sum(idle.get(g, 0.0) for g in groups), 1)
        for name, groups in FIGURE_GROUPS.items()
    }


def chain_figures(results: Mapping[str, Any]) -> dict[str, Any]:
    """The gateway's share of the production path: chain over LiteLLM alone, run by run."""
    chain, stream = results["litellm_chain"], results["litellm_streaming"]
    p50, p99, ttfb = _p("latency_ms", "p50"), _p("latency_ms", "p99"), _p("ttfb_ms", "p50")
    gateway, alone = chain["chain"], chain["litellm"]
    return {
        "ratio_p50": paired(gateway, alone, lambda g, a: p50(g) / p50(a)),
        "added_p50_ms": paired(gateway, alone, lambda g, a: p50(g) - p50(a)),
        "added_p99_ms": paired(gateway, alone, lambda g, a: p99(g) - p99(a)),
        "litellm_added_p50_ms": paired(alone, chain["direct"], lambda a, d: p50(a) - p50(d)),
        "p50_ms": {t: figure(runs, p50) for t, runs in chain.items()},
        "ttfb_p50_ms": {t: figure(runs, ttfb) for t, runs in stream.items()},
        "ttfb_ratio_p50": paired(
            stream["chain"], stream["litellm"], lambda g, a: ttfb(g) / ttfb(a)
        ),
        "ttfb_added_p50_ms": paired(
            stream["chain"], stream["litellm"], lambda g, a: ttfb(g) - ttfb(a)
        ),
    }


# The sections whose runs are fixed-rate measurements: a busy machine blurs them. (The rate
# ladders are left out: their top steps load the machine by design.)
MEASURED_SECTIONS = ("fixed_rate", "streaming", "litellm_chain", "litellm_streaming")


def noise(results: Mapping[str, Any]) -> dict[str, Any]:
    """How busy the machine was: the worst of each signal, and every run it made too busy."""
    runs = [
        (section, target, index, run)
        for section in MEASURED_SECTIONS
        for target, target_runs in results[section].items()
        for index, run in enumerate(target_runs)
    ]
    for name, compared in results.get("litellm_settings", {}).items():
        for index, pair in enumerate(compared.get("pairs", [])):
            for side in ("shipped", "candidate"):
                runs.append(("litellm_settings", f"{name}/{side}", index, pair[side]))
    cpu = [run["cpu"] for *_, run in runs if "cpu" in run]
    lags = [run["generator_lag_ms_p99"] for *_, run in runs if "generator_lag_ms_p99" in run]
    return {
        "max_steal_pct": max((c["steal_pct"] for c in cpu), default=0.0),
        "max_others_cores": max((c["others_cores"] for c in cpu), default=0.0),
        "max_generator_lag_ms_p99": max(lags, default=0.0),
        "runs": len(runs),
        "by_section": {
            section: {
                "runs": sum(1 for r in runs if r[0] == section),
                "busy": sum(1 for r in runs if r[0] == section and r[3].get("busy")),
            }
            for section in dict.fromkeys(r[0] for r in runs)
        },
        "busy": [
            {"section": s, "target": t, "run": i + 1, "reasons": run["busy"]}
            for s, t, i, run in runs
            if run.get("busy")
        ],
    }


def derive(results: Mapping[str, Any]) -> dict[str, Any]:
    """Overheads as differences and ratios against the direct call, and the targets."""
    fixed = results["fixed_rate"]
    derived: dict[str, Any] = {}
    for q in ("p50", "p99"):
        direct = median(r["latency_ms"][q] for r in fixed["direct"])
        for hop in HOPS:
            hop_latency = median(r["latency_ms"][q] for r in fixed[hop])
            derived[f"{hop}_overhead_{q}_ms"] = round(hop_latency - direct, 3)
            derived[f"{hop}_ratio_{q}"] = round(hop_latency / direct, 3)
    stream = results["streaming"]
    direct_ttfb = median(r["ttfb_ms"]["p50"] for r in stream["direct"])
    for hop in HOPS:
        derived[f"{hop}_ttfb_overhead_p50_ms"] = round(
            median(r["ttfb_ms"]["p50"] for r in stream[hop]) - direct_ttfb, 3
        )
    chain = results["litellm_chain"]
    for q in ("p50", "p99"):
        litellm = median(r["latency_ms"][q] for r in chain["litellm"])
        derived[f"litellm_overhead_{q}_ms"] = round(
            litellm - median(r["latency_ms"][q] for r in chain["direct"]), 3
        )
        derived[f"gateway_in_chain_overhead_{q}_ms"] = round(
            median(r["latency_ms"][q] for r in chain["chain"]) - litellm, 3
        )
    derived["cpu_ms_per_request"] = cpu = cpu_figures(results)
    derived["rps_per_core"] = {name: per_core(value) for name, value in cpu.items()}
    derived["idle_cpu_ms_per_s"] = idle_ms_per_s(results)
    derived["chain"] = chain_figures(results)
    derived["noise"] = noise(results)
    # Verdicts from the pairs (a run's JSON re-derived under changed rules gets new ones).
    derived["litellm_settings"] = {
        name: compared.get("verdict")
        if "pairs" not in compared
        else verdict(compared["pairs"], compared["behaviour_problems"])
        for name, compared in results.get("litellm_settings", {}).items()
    }
    gateway_max = results["max_rate"]["gateway"]["highest_rate_p99_under_50ms"]
    litellm_max = results["max_rate"]["litellm"]["highest_rate_p99_under_50ms"]
    langfuse = results["langfuse"]
    up = (langfuse["up"]["latency_ms"]["p50"] + langfuse["up_again"]["latency_ms"]["p50"]) / 2
    down = langfuse["down"]["latency_ms"]["p50"]
    derived["targets"] = {
        "gateway p50 overhead <= 2x nginx's": derived["gateway_overhead_p50_ms"]
        <= 2 * max(derived["nginx_overhead_p50_ms"], 0.0),
        "gateway p99 overhead <= 2x nginx's": derived["gateway_overhead_p99_ms"]
        <= 2 * max(derived["nginx_overhead_p99_ms"], 0.0),
        "streaming TTFB overhead <= 1 ms": derived["gateway_ttfb_overhead_p50_ms"] <= 1.0,
        f"gateway CPU per request <= {TARGET_GATEWAY_CPU_MS} ms": cpu["gateway"]["median"]
        <= TARGET_GATEWAY_CPU_MS,
        f"gateway in the chain: p50 over LiteLLM's alone <= {TARGET_CHAIN_RATIO}": derived["chain"][
            "ratio_p50"
        ]["median"]
        <= TARGET_CHAIN_RATIO,
        "gateway sustains >= 1000/s with p99 < 50 ms": gateway_max >= 1000,
        "gateway max rate > 20x LiteLLM's": gateway_max > 20 * max(litellm_max, 1),
        "Langfuse down: p50 within 5% of up (mean of before and after)": down <= up * 1.05,
        "Langfuse down: no failed request": langfuse["down"]["errors"] == 0,
        "gateway RSS < 100 MB after 10,000 requests": (results["rss"]["gateway_after_mb"] or 1e9)
        < 100,
    }
    return derived
