"""`python -m bench` (`invoke bench`): start the local stack and measure every hop in one run.

Targets, all against the provider emulator answering at once:
  direct    the emulator called directly (the baseline)
  nginx     nginx as a plain reverse proxy in front of it (the floor for any proxy here)
  python    a bare Python pass-through on the gateway's runtime (bench/passthrough.py)
  gateway   the gateway pointed straight at the emulator (the gateway's own overhead)
  litellm   the LiteLLM proxy in front of the emulator
  chain     gateway -> LiteLLM -> emulator, the production path
Overhead of a hop = its latency minus the direct call's, at the same fixed open-loop
rate in the same run; the gateway's own x-gateway-overhead-ms figure is reported beside.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from bench.loadgen import Request, closed_loop, open_loop, step_up, summarize
from bench.report import write_chart, write_markdown
from bench.targets import (
    HOPS,
    TARGETS,
    direct_gateway_process,
    litellm_variant,
    nginx_process,
    passthrough_process,
)
from devstack.langfuse_receiver import ReceiverClient
from devstack.processes import LOOPBACK, ManagedProcess
from devstack.stack import GatewayClient, LocalStack, StackPorts
from devstack.venvs import ensure_litellm_venv

BENCH_CLIENT = GatewayClient("bench", requests_per_minute=1_000_000_000)
PROMPT = "Say hello to the benchmark."


@dataclass(frozen=True)
class Plan:
    duration_s: float
    rate: float
    stream_rate: float
    repeats: int
    litellm_rate: float
    sequential: int
    gateway_rates: tuple[float, ...]
    litellm_rates: tuple[float, ...]
    rss_requests: int

    @classmethod
    def full(cls) -> Plan:
        return cls(10, 200, 100, 3, 20, 300, (400, 700, 1000, 1300, 1600, 2000),
                   (10, 20, 30, 45, 60, 80, 100, 120), 10_000)  # fmt: skip

    @classmethod
    def quick(cls) -> Plan:
        return cls(2, 100, 50, 1, 10, 50, (200, 600), (10, 30), 1_000)


def _request(
    url: str, key: str, model: str, stream: bool = False, session: str | None = None
) -> Request:
    body: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": PROMPT}]}
    if stream:
        body["stream"] = True
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    if session is not None:
        headers["X-Session-Id"] = session
    return Request(url=f"{url}/v1/chat/completions", body=orjson.dumps(body), stream=stream,
                   headers=headers)  # fmt: skip


def _progress(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


class Bench:
    def __init__(
        self, stack: LocalStack, nginx_port: int, python_port: int, direct_gateway_port: int
    ) -> None:
        groq_key = stack.secrets.groq_api_key
        gateway_direct = f"http://{LOOPBACK}:{direct_gateway_port}"
        self.targets = {
            "direct": lambda s: _request(stack.emulator_url, groq_key, "llama-3.3-70b", s),
            "nginx": lambda s: _request(f"http://{LOOPBACK}:{nginx_port}", groq_key,
                                        "llama-3.3-70b", s),
            "python": lambda s: _request(f"http://{LOOPBACK}:{python_port}", groq_key,
                                         "llama-3.3-70b", s),
            "gateway": lambda s: _request(gateway_direct, BENCH_CLIENT.key, "groq-llama", s),
            "litellm": lambda s: _request(stack.litellm_url, stack.secrets.litellm_master_key,
                                          "groq-llama", s),
            "chain": lambda s: _request(stack.gateway_url, BENCH_CLIENT.key, "groq-llama", s),
        }  # fmt: skip

    def open(self, target: str, rate: float, duration: float, stream: bool = False) -> Any:
        _progress(f"{target}: {rate:g}/s for {duration:g} s{' (streaming)' if stream else ''}")
        samples = asyncio.run(open_loop(self.targets[target](stream), rate, duration))
        return summarize(samples) | {"rate": rate, "duration_s": duration}

    def sequential(self, target: str, count: int) -> Any:
        samples, elapsed = asyncio.run(closed_loop(self.targets[target](False), 1, count))
        return summarize(samples, elapsed) | {"concurrency": 1}

    def concurrent(self, target: str, concurrency: int, count: int) -> Any:
        samples, elapsed = asyncio.run(closed_loop(self.targets[target](False), concurrency, count))
        return summarize(samples, elapsed) | {"concurrency": concurrency}

    def max_rate(self, target: str, rates: tuple[float, ...], duration: float) -> Any:
        return step_up(lambda rate: self.open(target, rate, duration), rates)


def _machine() -> dict[str, Any]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": model, "cores": os.cpu_count(), "python": platform.python_version(),
            "platform": platform.platform(), "date": time.strftime("%Y-%m-%d %H:%M UTC",
                                                                   time.gmtime())}  # fmt: skip


def _derive(results: dict[str, Any]) -> dict[str, Any]:
    """Overheads as differences and ratios against the direct call, and the targets."""

    def p(runs: list[dict[str, Any]], key: str, q: str) -> float:
        values = sorted(float(run[key][q]) for run in runs)
        return values[len(values) // 2]

    fixed = results["fixed_rate"]
    derived: dict[str, Any] = {}
    for q in ("p50", "p99"):
        direct = p(fixed["direct"], "latency_ms", q)
        for hop in HOPS:
            hop_latency = p(fixed[hop], "latency_ms", q)
            derived[f"{hop}_overhead_{q}_ms"] = round(hop_latency - direct, 3)
            derived[f"{hop}_ratio_{q}"] = round(hop_latency / direct, 3)
    stream = results["streaming"]
    for hop in HOPS:
        derived[f"{hop}_ttfb_overhead_p50_ms"] = round(
            stream[hop]["ttfb_ms"]["p50"] - stream["direct"]["ttfb_ms"]["p50"], 3
        )
    chain = results["litellm_chain"]
    for q in ("p50", "p99"):
        derived[f"litellm_overhead_{q}_ms"] = round(
            chain["litellm"]["latency_ms"][q] - chain["direct"]["latency_ms"][q], 3
        )
        derived[f"gateway_in_chain_overhead_{q}_ms"] = round(
            chain["chain"]["latency_ms"][q] - chain["litellm"]["latency_ms"][q], 3
        )
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
        "gateway sustains >= 1000/s with p99 < 50 ms": gateway_max >= 1000,
        "gateway max rate > 20x LiteLLM's": gateway_max > 20 * max(litellm_max, 1),
        "Langfuse down: p50 within 5% of up (mean of before and after)": down <= up * 1.05,
        "Langfuse down: no failed request": langfuse["down"]["errors"] == 0,
        "gateway RSS < 100 MB after 10,000 requests": (results["rss"]["gateway_after_mb"] or 1e9)
        < 100,
    }  # fmt: skip
    return derived


def run(plan: Plan, run_dir: Path) -> dict[str, Any]:
    stack = LocalStack(run_dir=run_dir, ports=StackPorts.free(), gateway_clients=[BENCH_CLIENT],
                       gateway_extra_env={"GATEWAY_DEGRADED_LOG_INTERVAL_S": "3600"})  # fmt: skip
    _progress("starting the local stack (LiteLLM takes ~10 s)")
    stack.start()
    extra: list[ManagedProcess] = []
    try:
        nginx, nginx_port = nginx_process(run_dir, stack.ports.emulator)
        python, python_port = passthrough_process(stack)
        gateway, gateway_port = direct_gateway_process(stack)
        for process in (nginx, python, gateway):
            extra.append(process)
            process.start(ready_timeout=20)
        bench = Bench(stack, nginx_port, python_port, gateway_port)
        results: dict[str, Any] = {}
        rss: dict[str, Any] = {
            "gateway_before_mb": gateway.rss_mb(),
            "litellm_before_mb": stack.processes["litellm"].rss_mb(),
        }
        results["sequential"] = {t: bench.sequential(t, plan.sequential) for t in TARGETS}
        # Interleaved repeats: a slow moment of the machine hits every target alike.
        fixed: dict[str, list[Any]] = {t: [] for t in TARGETS}
        for _ in range(plan.repeats):
            for target in fixed:
                fixed[target].append(bench.open(target, plan.rate, plan.duration_s))
        results["fixed_rate"] = fixed
        results["streaming"] = {
            t: bench.open(t, plan.stream_rate, plan.duration_s, stream=True) for t in TARGETS
        }
        results["concurrent_32"] = {
            t: bench.concurrent(t, 32, int(plan.rate * plan.duration_s)) for t in TARGETS
        }
        results["litellm_chain"] = {
            t: bench.open(t, plan.litellm_rate, plan.duration_s)
            for t in ("direct", "litellm", "chain")
        }
        results["max_rate"] = {
            "nginx": bench.max_rate("nginx", plan.gateway_rates, plan.duration_s / 2),
            "python": bench.max_rate("python", plan.gateway_rates, plan.duration_s / 2),
            "gateway": bench.max_rate("gateway", plan.gateway_rates, plan.duration_s / 2),
            "litellm": bench.max_rate("litellm", plan.litellm_rates, plan.duration_s / 2),
        }
        served = sum(r["requests"] for r in fixed["gateway"]) + sum(
            s["requests"] for s in results["max_rate"]["gateway"]["steps"]
        )
        while served < plan.rss_requests:  # top up to the request count the RSS target names
            served += bench.open("gateway", plan.rate * 2, plan.duration_s)["requests"]
        rss |= {
            "gateway_after_mb": gateway.rss_mb(),
            "gateway_requests": served,
            "litellm_after_mb": stack.processes["litellm"].rss_mb(),
        }
        results["rss"] = rss
        results["langfuse"] = _langfuse_scenarios(stack, plan)
        results["litellm_servers"] = _litellm_servers(stack, plan)
        return {"machine": _machine(), "plan": plan.__dict__, "results": results,
                "derived": _derive(results)}  # fmt: skip
    finally:
        for process in reversed(extra):
            process.stop()
        stack.stop()


# How to run LiteLLM on this hardware: uvicorn with one or two workers, or Granian.
LITELLM_SERVERS = {
    "uvicorn-1-worker": [],
    "uvicorn-2-workers": ["--num_workers", "2"],
    "granian-1-worker": ["--run_granian"],
}


def _litellm_servers(stack: LocalStack, plan: Plan) -> dict[str, Any]:
    """The highest rate each way of running LiteLLM holds with p99 < 50 ms, per core."""
    litellm_bin = ensure_litellm_venv()
    results: dict[str, Any] = {}
    for name, args in LITELLM_SERVERS.items():
        process, port = litellm_variant(stack, litellm_bin, name, args)
        try:
            process.start(ready_timeout=90)
        except Exception as error:  # a way that does not start is a result too
            results[name] = {"error": str(error).splitlines()[0]}
            continue
        try:
            url = f"http://{LOOPBACK}:{port}"
            request = _request(url, stack.secrets.litellm_master_key, "groq-llama")
            # Warm every worker first: a cold worker's first requests are not its speed.
            asyncio.run(closed_loop(request, 4, 40))

            def run_at(rate: float, name: str = name, request: Request = request) -> dict[str, Any]:
                _progress(f"LiteLLM {name}: {rate:g}/s")
                return summarize(asyncio.run(open_loop(request, rate, plan.duration_s / 2)))

            ladder = step_up(run_at, plan.litellm_rates)
            workers = 2 if "2-workers" in name else 1
            best = ladder["highest_rate_p99_under_50ms"]
            results[name] = {"steps": ladder["steps"], "highest_rate_p99_under_50ms": best,
                             "workers": workers, "rps_per_worker": best / workers,
                             "rss_mb": process.rss_mb()}  # fmt: skip
        finally:
            process.stop()
    return results


def _langfuse_scenarios(stack: LocalStack, plan: Plan) -> dict[str, Any]:
    """The full chain with Langfuse up, down (port closed), hung (accepts, never answers),
    and up again: down is compared with the mean of the two up phases around it (hung is
    reported beside), so that the machine drifting over the minute is not read as Langfuse's
    effect.

    Each phase has its own session id, so its spans are counted exactly."""
    receiver = ReceiverClient(stack.receiver_url)
    langfuse = stack.processes["langfuse-receiver"]

    def phase(name: str) -> dict[str, Any]:
        session = f"bench-langfuse-{name}-{time.time_ns()}"
        request = _request(stack.gateway_url, BENCH_CLIENT.key, "groq-llama", session=session)
        _progress(f"chain with Langfuse {name}: {plan.litellm_rate:g}/s")
        # No warm-up: every request of the phase is counted against its spans.
        samples = asyncio.run(open_loop(request, plan.litellm_rate, plan.duration_s, warmup=0))
        return summarize(samples) | {"rate": plan.litellm_rate, "session": session}

    def delivered(result: dict[str, Any]) -> int:
        # Unique span ids: an export retried after a timeout can arrive twice.
        spans = receiver.spans(attribute="session.id", value=result["session"])
        return len({span["span_id"] for span in spans})

    up = phase("up")
    time.sleep(3)  # the callback flushes about once a second
    up["spans_delivered"] = delivered(up)  # counted now: the receiver's restart forgets them
    langfuse.stop()
    down = phase("down")
    langfuse.start(ready_timeout=20)
    receiver.set_mode("hang")
    try:
        hung = phase("hung")
    finally:
        receiver.set_mode("normal")
    time.sleep(10)  # LiteLLM's exporter retries after 1, 2 and 4 s
    down["outage_s"] = hung["outage_s"] = plan.duration_s
    for result in (down, hung):
        result["spans_delivered"] = delivered(result)
    up_again = phase("up_again")
    time.sleep(3)
    up_again["spans_delivered"] = delivered(up_again)
    results = {"up": up, "down": down, "hung": hung, "up_again": up_again}
    for result in results.values():
        result["spans_lost"] = result["requests"] - result["spans_delivered"]
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="invoke bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("bench/results/latest.json"),
        help="the JSON results (default: bench/results/latest.json)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a short smoke run (seconds per step), not for publishing",
    )
    args = parser.parse_args(argv)  # fmt: skip
    plan = Plan.quick() if args.quick else Plan.full()
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        report = run(plan, Path(tmp))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    markdown = write_markdown(report, args.out.with_suffix(".md"))
    write_chart(report, args.out.with_suffix(".png"))
    print(markdown)
    print(f"Wrote {args.out}, {args.out.with_suffix('.md')} and {args.out.with_suffix('.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
