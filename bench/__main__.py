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
Every open-loop run also records the CPU time each process group spent per request
(/proc: bench/cpu.py) and how busy the rest of the machine was. LiteLLM's documented
settings are compared with the shipped config (bench/litellm_settings.py), and the
deployment's capacity follows from the results: `python -m bench.capacity`.
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
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.cpu import CpuMeter
from bench.derive import derive
from bench.hops import LITELLM_TARGETS, TARGETS
from bench.litellm_settings import Candidate, Comparison, select
from bench.loadgen import Request, closed_loop, open_loop, step_up, summarize
from bench.measure import LITELLM_SETTLE_S, Measure, log_progress
from bench.report import write_chart, write_markdown
from bench.targets import (
    BENCH_CLIENT,
    chat_request,
    direct_gateway_process,
    litellm_request,
    litellm_variant,
    nginx_process,
    passthrough_process,
)
from devstack.langfuse_receiver import ReceiverClient
from devstack.processes import LOOPBACK, ManagedProcess
from devstack.stack import LocalStack, StackPorts
from devstack.venvs import ensure_litellm_venv


@dataclass(frozen=True)
class Plan:
    duration_s: float
    rate: float
    stream_rate: float
    repeats: int
    litellm_rate: float
    # A streamed call costs LiteLLM about twice a plain one's CPU (50-60 ms here): at
    # LiteLLM's plain rate its one core saturates and first bytes wait seconds.
    litellm_stream_rate: float
    litellm_repeats: int  # the gateway-in-the-chain ratio needs more runs: LiteLLM is noisy
    settings_pairs: int  # pairs of runs (shipped config, candidate) per LiteLLM setting
    sequential: int
    gateway_rates: tuple[float, ...]
    litellm_rates: tuple[float, ...]
    rss_requests: int

    @classmethod
    def full(cls) -> Plan:
        return cls(10, 200, 100, 3, 20, 5, 5, 4, 300, (400, 700, 1000, 1300, 1600, 2000),
                   (10, 20, 30, 45, 60, 80, 100, 120), 10_000)  # fmt: skip

    @classmethod
    def quick(cls) -> Plan:
        return cls(2, 100, 50, 1, 10, 5, 2, 1, 50, (200, 600), (10, 30), 1_000)


class Bench:
    def __init__(
        self,
        stack: LocalStack,
        measure: Measure,
        nginx_port: int,
        python_port: int,
        direct_gateway_port: int,
    ) -> None:
        self.measure = measure
        groq_key = stack.secrets.groq_api_key
        gateway_direct = f"http://{LOOPBACK}:{direct_gateway_port}"
        master_key = stack.secrets.litellm_master_key
        self.targets = {
            "direct": lambda s: chat_request(stack.emulator_url, groq_key, "llama-3.3-70b", s),
            "nginx": lambda s: chat_request(f"http://{LOOPBACK}:{nginx_port}", groq_key,
                                            "llama-3.3-70b", s),
            "python": lambda s: chat_request(f"http://{LOOPBACK}:{python_port}", groq_key,
                                             "llama-3.3-70b", s),
            "gateway": lambda s: chat_request(gateway_direct, BENCH_CLIENT.key, "groq-llama", s),
            # With the gateway's metadata: LiteLLM does the same work as behind the gateway.
            "litellm": lambda s: litellm_request(stack.litellm_url, master_key, stream=s),
            "chain": lambda s: chat_request(stack.gateway_url, BENCH_CLIENT.key, "groq-llama", s),
        }  # fmt: skip

    def open(self, target: str, rate: float, duration: float, stream: bool = False) -> Any:
        settle = LITELLM_SETTLE_S if target in ("litellm", "chain") else 0.0
        return self.measure.open(target, self.targets[target](stream), rate, duration, settle)

    def interleaved(
        self, targets: tuple[str, ...], rate: float, duration: float, repeats: int,
        stream: bool = False,
    ) -> dict[str, list[Any]]:  # fmt: skip
        """Each target in turn, `repeats` times: a slow moment of the machine hits all alike."""
        runs: dict[str, list[Any]] = {t: [] for t in targets}
        for _ in range(repeats):
            for target in targets:
                runs[target].append(self.open(target, rate, duration, stream))
        return runs

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


def run(plan: Plan, run_dir: Path, settings: list[Candidate]) -> dict[str, Any]:
    stack = LocalStack(run_dir=run_dir, ports=StackPorts.free(), gateway_clients=[BENCH_CLIENT],
                       gateway_extra_env={"GATEWAY_DEGRADED_LOG_INTERVAL_S": "3600"})  # fmt: skip
    log_progress("starting the local stack (LiteLLM takes ~10 s)")
    stack.start()
    extra: list[ManagedProcess] = []
    try:
        nginx, nginx_port = nginx_process(run_dir, stack.ports.emulator)
        python, python_port = passthrough_process(stack)
        gateway, gateway_port = direct_gateway_process(stack)
        for process in (nginx, python, gateway):
            extra.append(process)
            process.start(ready_timeout=20)
        meter = CpuMeter({p.name: p for p in [*stack.processes.values(), *extra]})
        measure = Measure(meter)
        bench = Bench(stack, measure, nginx_port, python_port, gateway_port)
        results: dict[str, Any] = {}
        rss: dict[str, Any] = {
            "gateway_before_mb": gateway.rss_mb(),
            "litellm_before_mb": stack.processes["litellm"].rss_mb(),
        }
        results["sequential"] = {t: bench.sequential(t, plan.sequential) for t in TARGETS}
        results["idle"] = measure.idle(plan.duration_s)  # after the warm-up of `sequential`
        results["fixed_rate"] = bench.interleaved(TARGETS, plan.rate, plan.duration_s,
                                                  plan.repeats)  # fmt: skip
        results["streaming"] = bench.interleaved(TARGETS, plan.stream_rate, plan.duration_s,
                                                 plan.repeats, stream=True)  # fmt: skip
        results["concurrent_32"] = {
            t: bench.concurrent(t, 32, int(plan.rate * plan.duration_s)) for t in TARGETS
        }
        results["litellm_chain"] = bench.interleaved(
            LITELLM_TARGETS, plan.litellm_rate, plan.duration_s, plan.litellm_repeats
        )
        results["litellm_streaming"] = bench.interleaved(
            LITELLM_TARGETS, plan.litellm_stream_rate, plan.duration_s, plan.repeats, stream=True
        )
        results["max_rate"] = {
            "nginx": bench.max_rate("nginx", plan.gateway_rates, plan.duration_s / 2),
            "python": bench.max_rate("python", plan.gateway_rates, plan.duration_s / 2),
            "gateway": bench.max_rate("gateway", plan.gateway_rates, plan.duration_s / 2),
            "litellm": bench.max_rate("litellm", plan.litellm_rates, plan.duration_s / 2),
        }
        served = sum(r["requests"] for r in results["fixed_rate"]["gateway"]) + sum(
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
        litellm_bin = ensure_litellm_venv()
        comparison = Comparison(stack, litellm_bin, measure, plan.litellm_rate, plan.duration_s,
                                plan.settings_pairs)  # fmt: skip
        results["litellm_settings"] = {c.name: comparison.run(c) for c in settings}
        return {"machine": _machine(), "plan": asdict(plan), "results": results}
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
            request = litellm_request(url, stack.secrets.litellm_master_key)
            # Warm every worker first: a cold worker's first requests are not its speed.
            asyncio.run(closed_loop(request, 4, 40))

            def run_at(rate: float, name: str = name, request: Request = request) -> dict[str, Any]:
                log_progress(f"LiteLLM {name}: {rate:g}/s")
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
        request = chat_request(stack.gateway_url, BENCH_CLIENT.key, "groq-llama", session=session)
        log_progress(f"chain with Langfuse {name}: {plan.litellm_rate:g}/s")
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
    parser.add_argument(
        "--litellm-settings",
        default="all",
        metavar="NAMES",
        help="LiteLLM settings to compare with the shipped config: 'all' (default), 'none', "
        "or comma-separated names from bench/litellm_settings.py",
    )
    parser.add_argument(
        "--from-results",
        type=Path,
        metavar="JSON",
        help="measure nothing: derive the figures, the summary and the chart again from a "
        "run's JSON (e.g. after a change to bench/derive.py), writing them to --out",
    )
    args = parser.parse_args(argv)  # fmt: skip
    if args.from_results is not None:
        report = json.loads(args.from_results.read_text())
    else:
        plan = Plan.quick() if args.quick else Plan.full()
        try:
            settings = select(args.litellm_settings)
        except ValueError as error:
            parser.error(str(error))
        with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
            report = run(plan, Path(tmp), settings)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    # The measurements first, so that a failure below loses none of them.
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    report["derived"] = derive(report["results"])
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    markdown = write_markdown(report, args.out.with_suffix(".md"))
    write_chart(report, args.out.with_suffix(".png"))
    print(markdown)
    print(f"Wrote {args.out}, {args.out.with_suffix('.md')} and {args.out.with_suffix('.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
