"""The benchmark's Markdown summary and PNG chart, from its JSON results."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display: write files only
import matplotlib.pyplot as plt

from bench.targets import HOPS, TARGETS


def _median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Each figure the median of the runs' (as the targets are computed), errors summed."""
    row: dict[str, Any] = {
        "rate": runs[0]["rate"],
        "errors": sum(r["errors"] for r in runs),
        "throughput_rps": _median([r["throughput_rps"] for r in runs]),
    }
    for key in ("latency_ms", "ttfb_ms"):
        row[key] = {q: _median([r[key][q] for r in runs]) for q in ("p50", "p95", "p99")}
    headers = [r["gateway_overhead_header_ms"]["p50"] for r in runs
               if "gateway_overhead_header_ms" in r]  # fmt: skip
    if headers:
        row["gateway_overhead_header_ms"] = {"p50": _median(headers)}
    return row


def _row(name: str, r: dict[str, Any], base: dict[str, Any] | None, key: str) -> str:
    lat = r[key]
    over = "" if base is None else (
        f"{lat['p50'] - base[key]['p50']:+.2f} / {lat['p99'] - base[key]['p99']:+.2f}"
        f" | {lat['p50'] / base[key]['p50']:.2f}x"
    )  # fmt: skip
    over = over or "baseline | 1.00x"
    header = r.get("gateway_overhead_header_ms", {}).get("p50")
    own = f"{header:.3f}" if header is not None else "-"
    return (f"| {name} | {lat['p50']:.2f} | {lat['p95']:.2f} | {lat['p99']:.2f} | "
            f"{r['throughput_rps']} | {r['errors']} | {over} | {own} |")  # fmt: skip


def _split(derived: dict[str, Any], hop: str, under: str) -> str:
    return f"{derived[f'{hop}_overhead_p50_ms'] - derived[f'{under}_overhead_p50_ms']:+.2f} ms"


def write_markdown(report: dict[str, Any], path: Path) -> str:
    res, derived, machine = report["results"], report["derived"], report["machine"]
    head = ("| target | p50 ms | p95 ms | p99 ms | req/s | errors | overhead p50 / p99 ms "
            "| ratio p50 | x-gateway-overhead-ms p50 |\n| --- | --- | --- | --- | --- | --- "
            "| --- | --- | --- |")  # fmt: skip
    fixed = {t: _median_run(runs) for t, runs in res["fixed_rate"].items()}
    rate = fixed["direct"]["rate"]
    lines = [
        f"Machine: {machine['cpu']}, {machine['cores']} cores, Python {machine['python']}, "
        f"{machine['date']}. Load generator, servers and upstream share the cores.",
        "",
        f"**Open loop at {rate:g} requests/s** (each figure the median of "
        f"{len(res['fixed_rate']['direct'])} interleaved runs), non-streaming:",
        "", head,
        _row("emulator, direct", fixed["direct"], None, "latency_ms"),
        _row("nginx → emulator", fixed["nginx"], fixed["direct"], "latency_ms"),
        _row("Python pass-through → emulator", fixed["python"], fixed["direct"], "latency_ms"),
        _row("gateway → emulator", fixed["gateway"], fixed["direct"], "latency_ms"),
        "",
        "Split of the gateway's p50 overhead (medians of the runs): Python's runtime, the bare "
        f"pass-through over nginx, {_split(derived, 'python', 'nginx')}; the gateway's own "
        f"work over the pass-through, {_split(derived, 'gateway', 'python')}.",
        "",
        f"**Streaming, time to first byte** at {res['streaming']['direct']['rate']:g}/s:",
        "", head,
        _row("emulator, direct", res["streaming"]["direct"], None, "ttfb_ms"),
        _row("nginx → emulator", res["streaming"]["nginx"], res["streaming"]["direct"],
             "ttfb_ms"),
        _row("Python pass-through → emulator", res["streaming"]["python"],
             res["streaming"]["direct"], "ttfb_ms"),
        _row("gateway → emulator", res["streaming"]["gateway"], res["streaming"]["direct"],
             "ttfb_ms"),
        "",
        f"**Through LiteLLM** at {res['litellm_chain']['direct']['rate']:g}/s:",
        "", head,
        _row("emulator, direct", res["litellm_chain"]["direct"], None, "latency_ms"),
        _row("LiteLLM → emulator", res["litellm_chain"]["litellm"],
             res["litellm_chain"]["direct"], "latency_ms"),
        _row("gateway → LiteLLM → emulator", res["litellm_chain"]["chain"],
             res["litellm_chain"]["direct"], "latency_ms"),
        "",
        "**Sequential** (one request at a time) and **closed loop, 32 in flight** "
        "(throughput; latency here is queueing):",
        "", "| target | sequential p50 ms | sequential p99 ms | 32 in flight req/s |",
        "| --- | --- | --- | --- |",
    ]  # fmt: skip
    for target in TARGETS:
        seq, conc = res["sequential"][target], res["concurrent_32"][target]
        lines.append(
            f"| {target} | {seq['latency_ms']['p50']:.2f} | "
            f"{seq['latency_ms']['p99']:.2f} | {conc['throughput_rps']} |"
        )
    max_rate = res["max_rate"]
    lines += [
        "",
        "**Highest rate with p99 < 50 ms** (open loop, stepped; a missed step is run once "
        "more before the ladder stops): "
        + ", ".join(f"{t} {max_rate[t]['highest_rate_p99_under_50ms']:g}/s"
                    for t in ("nginx", "python", "gateway", "litellm"))
        + " (LiteLLM: one worker, one core's worth).",
        "",
        "**Langfuse up, down, hung** (full chain at "
        f"{res['langfuse']['up']['rate']:g}/s): p50 "
        + ", ".join(f"{k} {v['latency_ms']['p50']:.1f} ms ({v['errors']} errors)"
                    for k, v in res["langfuse"].items())
        + "; spans lost: "
        + ", ".join(f"{k} {v['spans_lost']} of {v['requests']}"
                    for k, v in res["langfuse"].items())
        + f" (down and hung for {res['langfuse']['down']['outage_s']:g} s each; up again "
        "after them, to tell the machine's drift from Langfuse's effect).",
        "",
        f"**Memory**: gateway RSS {res['rss']['gateway_before_mb']} MB before, "
        f"{res['rss']['gateway_after_mb']} MB after {res['rss']['gateway_requests']:,} "
        f"requests; LiteLLM {res['rss']['litellm_before_mb']} → "
        f"{res['rss']['litellm_after_mb']} MB.",
        "",
        "**Ways to run LiteLLM** (highest rate with p99 < 50 ms; the 2-core machine also "
        "runs the load generator and the emulator):",
        "",
        "| LiteLLM run as | req/s | req/s per worker | RSS MB |",
        "| --- | --- | --- | --- |",
        *[
            f"| {name} | {r.get('highest_rate_p99_under_50ms', r.get('error'))} | "
            f"{r.get('rps_per_worker', '-')} | {r.get('rss_mb', '-')} |"
            for name, r in res.get("litellm_servers", {}).items()
        ],
        "",
        "**Targets** (reported, never asserted in tests):",
        "",
    ]  # fmt: skip
    lines += [f"- {'met' if ok else 'NOT met'}: {name}" for name, ok in derived["targets"].items()]
    text = "\n".join(lines) + "\n"
    path.write_text(text)
    return text


def write_chart(report: dict[str, Any], path: Path) -> None:
    res = report["results"]
    fixed = {t: _median_run(runs) for t, runs in res["fixed_rate"].items()}
    direct = fixed["direct"]["latency_ms"]
    ttfb_direct = res["streaming"]["direct"]["ttfb_ms"]
    hops = list(HOPS)
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    width = 0.35
    for offset, q in ((-width / 2, "p50"), (width / 2, "p99")):
        left.bar(
            [i + offset for i in range(len(hops))],
            [fixed[h]["latency_ms"][q] - direct[q] for h in hops],
            width,
            label=q,
        )
        right.bar([i + offset for i in range(len(hops))],
                  [res["streaming"][h]["ttfb_ms"][q] - ttfb_direct[q] for h in hops],
                  width, label=q)  # fmt: skip
    rate = fixed["direct"]["rate"]
    left.set_title(f"Added latency at {rate:g} req/s (ms)")
    right.set_title(
        f"Added time to first byte, streaming at {res['streaming']['direct']['rate']:g}/s"
    )
    for axis in (left, right):
        axis.set_xticks(range(len(hops)), ["nginx (floor)", "Python pass-through", "gateway"])
        axis.axhline(0, color="grey", linewidth=0.5)
        axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
