"""`python -m bench.capacity`: the deployment's CPU sizing, from the CPU per request the bench
measured (bench/results/latest.json).

For the gateway and LiteLLM: requests/s one pod serves at the autoscaler's target (its
CPU request x the target utilisation / CPU per request), pods for 100 and 1,000
requests/s, and the HorizontalPodAutoscaler's bounds. It writes them where they are used:
each component's `resources` and `autoscaling` in deploy/charts/platform/values.yaml
(between the capacity markers), and the table in README.md's Benchmarks section.
tests/manifests/test_capacity.py asserts that the rendered chart and the README match
what this computes from the committed results. `--check` writes nothing and exits 1 if a
file is out of date.

The CPU figures are this machine's (bench/results/latest.md names it); a node of another
kind needs its own run before its numbers mean anything.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.derive import cpu_figures, idle_ms_per_s
from bench.stats import describe
from platform_deploy.config.files import REPO_ROOT

RESULTS = REPO_ROOT / "bench" / "results" / "latest.json"
VALUES = REPO_ROOT / "deploy" / "charts" / "platform" / "values.yaml"
README = REPO_ROOT / "README.md"

# The HPA adds pods when the pods' average CPU passes this share of their request. The
# 30% left is the headroom that carries a rise in traffic while new pods start (metrics
# every 15 s, then LiteLLM's 10-15 s start-up and its readiness probe): about +40% load.
TARGET_UTILISATION_PCT = 70
# Never fewer than two pods: the disruption budget keeps one while the other is drained.
MIN_REPLICAS = 2
# The loads the table shows; the HPA may scale up to the pods the peak needs. 1,000/s is
# the gateway's own target (the benchmark issue's "sustains >= 1000/s").
LOADS = (100, 1000)
PEAK = 1000

# The share of calls that stream, for sizing: a streamed call costs LiteLLM about twice a
# plain one's CPU (the bench measures both). Half, as in LiteLLM's own load tests
# (docs.litellm.ai/docs/benchmarks: 50% streaming), until the platform's traffic says
# otherwise (Langfuse records which calls streamed).
STREAMING_SHARE = 0.5

# LiteLLM runs this many uvicorn workers a pod (services/litellm/Dockerfile, --num_workers):
# one worker is one event loop, busy on one core at a time, so the pod requests one core
# per worker. One a pod, as LiteLLM's docs advise on Kubernetes (docs/proxy/server_tuning):
# the HPA then adds cores one at a time, and `invoke bench` found two workers in a pod no
# faster per core (bench/results/latest.md, "Ways to run LiteLLM").
LITELLM_WORKERS = 1


@dataclass(frozen=True)
class Sizing:
    """What the measurement does not decide: the pod's CPU request and limit, its memory."""

    component: str  # the chart's values key, the Deployment's and the HPA's name
    measured: str  # its figures in bench.derive.cpu_figures: this, and this + "_streaming"
    cpu_request_m: int
    cpu_limit_m: int
    memory_request: str
    memory_limit: str


SIZINGS = (
    # One event loop a pod too, but at well under a millisecond per request it needs a
    # fraction of a core: a quarter holds hundreds of requests/s at the target, and the
    # limit lets a pod burst to the one core its loop can use.
    Sizing("gateway", "gateway", 250, 1000, "128Mi", "256Mi"),
    # One core per worker (LITELLM_WORKERS); the limit leaves room for what runs beside the
    # loop outside Python's lock (JSON and protobuf encoding, the span exporter's thread),
    # so CFS throttling does not stretch its latency. Memory: ~430 MB resident after
    # thousands of requests (bench/results/latest.md), 1 Gi for its growth.
    Sizing("litellm", "litellm", 1000 * LITELLM_WORKERS, 1500 * LITELLM_WORKERS, "512Mi", "1Gi"),
)


@dataclass(frozen=True)
class Capacity:
    sizing: Sizing
    cpu_ms_per_request: Mapping[str, Any]  # plain calls: bench.stats.spread, plus busy_runs
    cpu_ms_streaming: Mapping[str, Any]  # streamed calls, likewise
    sized_cpu_ms: float  # the mix the pods are sized by (STREAMING_SHARE streamed)
    idle_ms_per_s: float  # what a pod burns with no request
    rps_per_core: int
    rps_per_pod: int
    pods: Mapping[int, int]  # load (requests/s) -> pods at the target utilisation
    min_replicas: int
    max_replicas: int
    target_utilisation_pct: int


def pods_for(load: float, rps_per_pod: int) -> int:
    return max(1, math.ceil(load / rps_per_pod))


def plan(results: Mapping[str, Any]) -> list[Capacity]:
    """Each component's capacity from the bench's raw results (its `results` section)."""
    figures, idle = cpu_figures(results), idle_ms_per_s(results)
    capacities = []
    for sizing in SIZINGS:
        plain, streamed = figures[sizing.measured], figures[f"{sizing.measured}_streaming"]
        cpu_ms = round(
            (1 - STREAMING_SHARE) * plain["median"] + STREAMING_SHARE * streamed["median"], 3
        )
        if cpu_ms <= 0:
            raise ValueError(f"{sizing.component}: no CPU time measured per request")
        # CPU ms a second a pod may use before the HPA adds one, less its idle burn.
        budget = sizing.cpu_request_m * TARGET_UTILISATION_PCT / 100 - idle[sizing.measured]
        rps_per_pod = math.floor(budget / cpu_ms)
        if rps_per_pod < 1:
            raise ValueError(
                f"{sizing.component}: {cpu_ms} ms per request leaves a pod less than one request/s"
            )
        pods = {load: pods_for(load, rps_per_pod) for load in LOADS}
        capacities.append(
            Capacity(
                sizing=sizing,
                cpu_ms_per_request=plain,
                cpu_ms_streaming=streamed,
                sized_cpu_ms=cpu_ms,
                idle_ms_per_s=idle[sizing.measured],
                rps_per_core=round(1000 / cpu_ms),
                rps_per_pod=rps_per_pod,
                pods=pods,
                min_replicas=MIN_REPLICAS,
                max_replicas=max(MIN_REPLICAS, pods_for(PEAK, rps_per_pod)),
                target_utilisation_pct=TARGET_UTILISATION_PCT,
            )
        )
    return capacities


def load_results(path: Path = RESULTS) -> dict[str, Any]:
    results: dict[str, Any] = json.loads(path.read_text())["results"]
    if "cpu" not in results["fixed_rate"]["gateway"][0]:
        raise ValueError(
            f"{path} has no CPU figures (it predates bench/cpu.py): run "
            "`invoke bench`, then `python -m bench.capacity`"
        )
    return results


def cpu_quantity(millicores: int) -> str:
    """Kubernetes' notation: "1" for whole cores (quoted in YAML), else "250m"."""
    return f'"{millicores // 1000}"' if millicores % 1000 == 0 else f"{millicores}m"


def parse_cpu(quantity: str | int | float) -> int:
    """Millicores from a rendered CPU quantity ("250m", "1", 1, "1.5")."""
    text = str(quantity)
    return int(text[:-1]) if text.endswith("m") else round(float(text) * 1000)


BEGIN = "  # Capacity: written by `python -m bench.capacity` from bench/results/latest.json"
END = "  # End of capacity."


def values_block(capacity: Capacity) -> str:
    s = capacity.sizing
    return "\n".join(
        [
            BEGIN,
            f"  # ({capacity.sized_cpu_ms} ms CPU a request, {capacity.rps_per_pod} requests/s a "
            f"pod at {capacity.target_utilisation_pct}%); edit bench/capacity.py.",
            "  resources:",
            f"    requests: {{cpu: {cpu_quantity(s.cpu_request_m)}, memory: {s.memory_request}}}",
            f"    limits: {{cpu: {cpu_quantity(s.cpu_limit_m)}, memory: {s.memory_limit}}}",
            "  autoscaling:",
            "    enabled: false",
            f"    minReplicas: {capacity.min_replicas}",
            f"    maxReplicas: {capacity.max_replicas}",
            f"    targetCPUUtilizationPercentage: {capacity.target_utilisation_pct}",
            END,
        ]
    )


def replace_between(text: str, begin: str, end: str, block: str, after: str = "") -> str:
    """`text` with the lines from the one starting `begin` to the one starting `end` (both
    included) replaced by `block`; the first such span after the line `after`."""
    lines = text.split("\n")
    start = lines.index(after) + 1 if after else 0
    first = next(i for i in range(start, len(lines)) if lines[i].startswith(begin))
    last = next(i for i in range(first, len(lines)) if lines[i].startswith(end))
    return "\n".join([*lines[:first], block, *lines[last + 1 :]])


def write_values(text: str, capacities: Sequence[Capacity]) -> str:
    for capacity in capacities:
        text = replace_between(
            text, BEGIN, END, values_block(capacity), after=f"{capacity.sizing.component}:"
        )
    return text


TABLE_BEGIN = "<!-- capacity table: written by `python -m bench.capacity`; do not edit -->"
TABLE_END = "<!-- end of capacity table -->"


def table(capacities: Sequence[Capacity], results: Mapping[str, Any]) -> str:
    figures = cpu_figures(results)
    chain, chain_streaming = figures["chain"], figures["chain_streaming"]
    share = f"{STREAMING_SHARE:.0%}"
    mixed = (1 - STREAMING_SHARE) * chain["median"] + STREAMING_SHARE * chain_streaming["median"]
    rows = [
        TABLE_BEGIN,
        "| component | CPU ms per request, plain | streamed | sized at "
        f"{share} streamed | idle CPU ms/s | requests/s per core | CPU request / limit "
        f"| requests/s per pod at {TARGET_UTILISATION_PCT}% | pods for "
        + " | pods for ".join(f"{load:,}/s" for load in LOADS)
        + " | HPA min-max |",
        "| --- " * (9 + len(LOADS)) + "|",
    ]
    for c in capacities:
        s = c.sizing
        rows.append(
            f"| {s.component} | {describe(c.cpu_ms_per_request, '{:.3g}')} "
            f"| {describe(c.cpu_ms_streaming, '{:.3g}')} | {c.sized_cpu_ms:.3g} "
            f"| {c.idle_ms_per_s:g} | {c.rps_per_core:,} "
            f"| {s.cpu_request_m}m / {s.cpu_limit_m}m | {c.rps_per_pod:,} | "
            + " | ".join(str(c.pods[load]) for load in LOADS)
            + f" | {c.min_replicas}-{c.max_replicas} |"
        )
    rows += [
        "",
        f"The whole chain (gateway, its Redis, LiteLLM): {describe(chain, '{:.3g}')} ms CPU "
        f"per plain request, {describe(chain_streaming, '{:.3g}')} streamed; at {PEAK:,} "
        f"requests/s, {share} streamed, {mixed * PEAK / 1000:.1f} cores before the "
        "autoscaler's headroom. CPU per request is the requests' own (idle CPU subtracted); "
        "a pod's budget at the target is its request's share less its idle burn. Computed "
        "from `bench/results/latest.json`; the HorizontalPodAutoscalers in "
        "`deploy/charts/platform` carry the same numbers (`tests/manifests/test_capacity.py`).",
        TABLE_END,
    ]
    return "\n".join(rows)


def write_readme(text: str, capacities: Sequence[Capacity], results: Mapping[str, Any]) -> str:
    return replace_between(text, TABLE_BEGIN, TABLE_END, table(capacities, results))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.capacity",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--results", type=Path, default=RESULTS, help="the bench's JSON")
    parser.add_argument("--values", type=Path, default=VALUES, help="the chart's values.yaml")
    parser.add_argument("--readme", type=Path, default=README, help="the README to update")
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 if a file differs from the results",
    )
    args = parser.parse_args(argv)
    results = load_results(args.results)
    capacities = plan(results)
    stale = []
    for path in (args.values, args.readme):
        text = path.read_text()
        if path == args.values:
            new = write_values(text, capacities)
        else:
            new = write_readme(text, capacities, results)
        if new != text:
            stale.append(path)
            if not args.check:
                path.write_text(new)
    print(table(capacities, results))
    if args.check and stale:
        print(f"out of date with {args.results}: {', '.join(map(str, stale))}", file=sys.stderr)
        return 1
    for path in stale:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
