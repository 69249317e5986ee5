"""Bench results of a known shape and known numbers, for the figures built from them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

CHAIN_CPU = {"gateway": 0.4, "redis": 0.05, "litellm": 25.0}


def run(
    p50: float,
    p99: float | None = None,
    ttfb: float | None = None,
    cpu: Mapping[str, float] | None = None,
    busy: Sequence[str] = (),
    rate: float = 20.0,
) -> dict[str, Any]:
    """One open-loop run's summary, as bench.measure.Measure.open returns it."""
    p99 = p99 if p99 is not None else p50 * 1.5
    ttfb = ttfb if ttfb is not None else p50
    return {
        "requests": 200,
        "errors": 0,
        "throughput_rps": rate,
        "latency_ms": {"p50": p50, "p95": p99 * 0.9, "p99": p99, "mean": p50},
        "ttfb_ms": {"p50": ttfb, "p95": ttfb * 1.3, "p99": ttfb * 1.5, "mean": ttfb},
        "generator_lag_ms_p99": 1.2,
        "rate": rate,
        "duration_s": 10,
        "cpu": {
            "requests": 200,
            "elapsed_s": 10.0,
            "ms_per_request": dict(cpu or {}),
            "steal_pct": 0.0,
            "others_cores": 0.01,
        },
        "busy": list(busy),
    }


def results(
    gateway_cpu: Sequence[float] = (0.38, 0.40, 0.42),
    litellm_p50: Sequence[float] = (18.0, 19.0, 20.0),
    chain_p50: Sequence[float] = (18.5, 19.4, 20.2),
    litellm_cpu: float = 25.0,
    litellm_stream_cpu: float = 50.0,
    gateway_stream_cpu: float = 0.6,
) -> dict[str, Any]:
    """A whole run's `results`: three fixed-rate repeats, as many LiteLLM repeats as given."""
    alone = {"direct": "provider-emulator", "nginx": "nginx", "python": "python-passthrough"}
    fixed = {
        target: [run(1.0 + k, cpu={group: 0.1 + k}) for k in range(3)]
        for target, group in alone.items()
    }
    fixed["gateway"] = [run(2.0, cpu={"gateway-direct": c}) for c in gateway_cpu]
    chain_cpu = CHAIN_CPU | {"litellm": litellm_cpu}
    litellm_chain = {
        "direct": [run(1.0) for _ in litellm_p50],
        "gateway": [run(2.0, cpu={"gateway-direct": 0.9}) for _ in litellm_p50],
        "litellm": [run(p, cpu={"litellm": litellm_cpu}) for p in litellm_p50],
        "chain": [run(p, cpu=chain_cpu) for p in chain_p50],
    }
    streaming = {t: [run(1.5, ttfb=1.5 + i) for _ in range(3)] for i, t in enumerate(fixed)}
    streaming["gateway"] = [run(2.0, ttfb=2.0, cpu={"gateway-direct": gateway_stream_cpu})] * 3
    stream_cpu = CHAIN_CPU | {"litellm": litellm_stream_cpu}
    litellm_streaming = {
        "direct": [run(1.6, ttfb=1.6)],
        "gateway": [run(2.2, ttfb=2.2)],
        "litellm": [run(19.0, ttfb=18.0, cpu={"litellm": litellm_stream_cpu})],
        "chain": [run(20.0, ttfb=19.0, cpu=stream_cpu)],
    }
    ladder = {"steps": [], "highest_rate_p99_under_50ms": 1300}
    langfuse = {
        phase: run(20.0) | {"spans_lost": 0, "outage_s": 10}
        for phase in ("up", "down", "hung", "up_again")
    }
    return {
        "sequential": {t: run(1.0) for t in fixed},
        "fixed_rate": fixed,
        "streaming": streaming,
        "concurrent_32": {t: run(5.0) for t in fixed},
        "litellm_chain": litellm_chain,
        "litellm_streaming": litellm_streaming,
        "max_rate": {
            "nginx": ladder,
            "python": ladder,
            "gateway": ladder,
            "litellm": {"steps": [], "highest_rate_p99_under_50ms": 45},
        },
        "rss": {
            "gateway_before_mb": 60.0,
            "gateway_after_mb": 64.0,
            "gateway_requests": 12_000,
            "litellm_before_mb": 370.0,
            "litellm_after_mb": 430.0,
        },
        "langfuse": langfuse,
        "litellm_servers": {},
        "litellm_settings": {},
    }
