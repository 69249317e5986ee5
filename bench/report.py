"""The benchmark's Markdown summary and PNG chart, from its JSON results."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.cpu import BUSY_LIMITS
from bench.hops import HOPS, LITELLM_TARGETS, TARGETS
from bench.stats import describe, median

HEAD = (
    "| target | p50 ms | p95 ms | p99 ms | req/s | errors | overhead p50 / p99 ms "
    "| ratio p50 | x-gateway-overhead-ms p50 |\n| --- | --- | --- | --- | --- | --- "
    "| --- | --- | --- |"
)
LISTED_BUSY_RUNS = 12  # more than this and the report counts them per section instead
LABELS = {
    "direct": "emulator, direct",
    "nginx": "nginx → emulator",
    "python": "Python pass-through → emulator",
    "gateway": "gateway → emulator",
    "litellm": "LiteLLM → emulator",
    "chain": "gateway → LiteLLM → emulator",
}


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Each figure the median of the runs' (as the targets are computed), errors summed."""
    row: dict[str, Any] = {
        "rate": runs[0]["rate"],
        "errors": sum(r["errors"] for r in runs),
        "throughput_rps": median(r["throughput_rps"] for r in runs),
        "busy": sum(1 for r in runs if r.get("busy")),
    }
    for key in ("latency_ms", "ttfb_ms"):
        row[key] = {q: median(r[key][q] for r in runs) for q in ("p50", "p95", "p99")}
    headers = [
        r["gateway_overhead_header_ms"]["p50"] for r in runs if "gateway_overhead_header_ms" in r
    ]
    if headers:
        row["gateway_overhead_header_ms"] = {"p50": median(headers)}
    return row


def _row(name: str, r: dict[str, Any], base: dict[str, Any] | None, key: str) -> str:
    lat = r[key]
    over = (
        ""
        if base is None
        else (
            f"{lat['p50'] - base[key]['p50']:+.2f} / {lat['p99'] - base[key]['p99']:+.2f}"
            f" | {lat['p50'] / base[key]['p50']:.2f}x"
        )
    )
    over = over or "baseline | 1.00x"
    header = r.get("gateway_overhead_header_ms", {}).get("p50")
    own = f"{header:.3f}" if header is not None else "-"
    busy = " (busy)" if r.get("busy") else ""
    return (
        f"| {name}{busy} | {lat['p50']:.2f} | {lat['p95']:.2f} | {lat['p99']:.2f} | "
        f"{r['throughput_rps']} | {r['errors']} | {over} | {own} |"
    )


def _table(
    section: dict[str, list[dict[str, Any]]], targets: tuple[str, ...], key: str
) -> list[str]:
    rows = {t: _median_run(section[t]) for t in targets}
    return [
        HEAD,
        *(
            _row(LABELS[t], rows[t], None if t == "direct" else rows["direct"], key)
            for t in targets
        ),
    ]


def _split(derived: dict[str, Any], hop: str, under: str) -> str:
    return f"{derived[f'{hop}_overhead_p50_ms'] - derived[f'{under}_overhead_p50_ms']:+.2f} ms"


def _cpu_lines(derived: dict[str, Any]) -> list[str]:
    cpu, per_core = derived["cpu_ms_per_request"], derived["rps_per_core"]
    idle = derived["idle_cpu_ms_per_s"]
    names = {
        "emulator": "emulator (the upstream stand-in), at the fixed rate",
        "nginx": "nginx, at the fixed rate",
        "python": "Python pass-through, at the fixed rate",
        "gateway": "gateway alone, at the fixed rate",
        "gateway_at_litellm_rate": "gateway alone, at LiteLLM's rate",
        "gateway_in_chain": "gateway in the chain, at LiteLLM's rate",
        "redis_in_chain": "Redis (the gateway's rate limiter) in the chain",
        "litellm": "LiteLLM (alone and in the chain)",
        "chain": "the whole chain: gateway + Redis + LiteLLM",
        "gateway_streaming": "gateway alone, streaming",
        "litellm_streaming": "LiteLLM, streaming (alone and in the chain)",
        "chain_streaming": "the whole chain, streaming",
    }
    lines = [
        "**CPU per request** (utime+stime of each process group from /proc over the "
        "measured requests, less the group's idle CPU over the same time; median of the "
        "runs and their range):",
        "",
        "| process group | CPU ms per request | requests/s per core | idle CPU ms/s "
        "| runs on a busy machine |",
        "| --- | --- | --- | --- | --- |",
    ]
    for key, label in names.items():
        figure, rps = cpu[key], per_core[key]
        count = {q: "-" if rps[q] is None else f"{rps[q]:,}" for q in ("median", "min", "max")}
        span = (
            count["median"]
            if rps["n"] == 1
            else (f"{count['median']} ({count['min']} to {count['max']})")
        )
        lines.append(
            f"| {label} | {describe(figure, '{:.3f}')} | {span} | {idle[key]:g} | "
            f"{figure['busy_runs']} of {figure['n']} |"
        )
    return lines


def _chain_lines(res: dict[str, Any], derived: dict[str, Any]) -> list[str]:
    chain = derived["chain"]
    rate = res["litellm_chain"]["direct"][0]["rate"]
    return [
        f"**Through LiteLLM** at {rate:g}/s (each figure the median of "
        f"{len(res['litellm_chain']['direct'])} interleaved runs; LiteLLM called directly "
        "carries the gateway's metadata, so it does the same callback work as behind it):",
        "",
        *_table(res["litellm_chain"], LITELLM_TARGETS, "latency_ms"),
        "",
        "The gateway in the chain (each run of the chain over the LiteLLM run beside it): "
        f"p50 ratio {describe(chain['ratio_p50'], '{:.3f}')}, "
        f"{describe(chain['added_p50_ms'], '{:+.2f}')} ms at p50 and "
        f"{describe(chain['added_p99_ms'], '{:+.2f}')} ms at p99; "
        f"LiteLLM itself adds {describe(chain['litellm_added_p50_ms'], '{:+.2f}')} ms at p50.",
        "",
        f"**Streaming through LiteLLM, time to first byte** at "
        f"{res['litellm_streaming']['direct'][0]['rate']:g}/s:",
        "",
        *_table(res["litellm_streaming"], LITELLM_TARGETS, "ttfb_ms"),
        "",
        f"First byte through the chain: {describe(chain['ttfb_p50_ms']['chain'], '{:.2f}')} ms "
        f"at p50, the gateway adding {describe(chain['ttfb_added_p50_ms'], '{:+.2f}')} ms "
        f"(ratio {describe(chain['ttfb_ratio_p50'], '{:.3f}')}).",
    ]


def _settings_lines(res: dict[str, Any], verdicts: dict[str, str]) -> list[str]:
    settings = res.get("litellm_settings", {})
    if not settings:
        return []
    lines = [
        "**LiteLLM settings against the shipped config** (each a LiteLLM beside a fresh one "
        "on services/litellm/config.yaml, measured in alternating pairs at the same rate; "
        "differences are the candidate's minus the shipped config's, median of the pairs "
        "and their range; behaviour: both models, drop_params, spans in Langfuse):",
        "",
        "| setting | CPU ms per request, shipped | CPU difference | p50 difference ms "
        "| p99 difference ms | errors | behaviour | verdict |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, r in settings.items():
        if "error" in r:
            lines.append(f"| {name} | - | - | - | - | - | {r['error']} | {r['verdict']} |")
            continue
        behaviour = "; ".join(r["behaviour_problems"]) or "kept"
        busy = f" ({r['busy_runs']} of {2 * len(r['pairs'])} runs busy)" if r["busy_runs"] else ""
        lines.append(
            f"| {name} | {describe(r['shipped_cpu_ms_per_request'], '{:.2f}')} | "
            f"{describe(r['cpu_delta_pct'], '{:+.1f}')} % | "
            f"{describe(r['p50_delta_ms'], '{:+.2f}')} | {describe(r['p99_delta_ms'], '{:+.2f}')} "
            f"| {r['errors']} | {behaviour} | {verdicts[name]}{busy} |"
        )
    return lines


def _noise_lines(derived: dict[str, Any]) -> list[str]:
    noise = derived["noise"]
    lines = [
        f"**The machine's own noise**: of {noise['runs']} measured runs, "
        f"{len(noise['busy'])} ran on a machine too busy to mean much (CPU steal over "
        f"{BUSY_LIMITS['steal_pct']:g}%, other processes over {BUSY_LIMITS['others_cores']:g} "
        f"cores, or the load generator over {BUSY_LIMITS['generator_lag_ms_p99']:g} ms late "
        f"at p99); the worst seen: steal {noise['max_steal_pct']:.1f}%, other processes "
        f"{noise['max_others_cores']:.2f} cores, generator lag "
        f"{noise['max_generator_lag_ms_p99']:.1f} ms."
        " Figures from such runs are marked (busy).",
    ]
    if len(noise["busy"]) > LISTED_BUSY_RUNS:  # a machine busy throughout: counts, not a list
        lines.append("")
        lines += [
            f"- {section}: {n['busy']} of {n['runs']} runs busy"
            for section, n in noise["by_section"].items()
        ]
    elif noise["busy"]:
        lines.append("")
        lines += [
            f"- {b['section']} / {b['target']} run {b['run']}: {', '.join(b['reasons'])}"
            for b in noise["busy"]
        ]
    return lines


def write_markdown(report: dict[str, Any], path: Path) -> str:
    res, derived, machine = report["results"], report["derived"], report["machine"]
    fixed = res["fixed_rate"]
    lines = [
        f"Machine: {machine['cpu']}, {machine['cores']} cores, Python {machine['python']}, "
        f"{machine['date']}. Load generator, servers and upstream share the cores.",
        "",
        *_noise_lines(derived),
        "",
        f"**Open loop at {fixed['direct'][0]['rate']:g} requests/s** (each figure the median "
        f"of {len(fixed['direct'])} interleaved runs), non-streaming:",
        "",
        *_table(fixed, TARGETS, "latency_ms"),
        "",
        "Split of the gateway's p50 overhead (medians of the runs): Python's runtime, the bare "
        f"pass-through over nginx, {_split(derived, 'python', 'nginx')}; the gateway's own "
        f"work over the pass-through, {_split(derived, 'gateway', 'python')}.",
        "",
        f"**Streaming, time to first byte** at {res['streaming']['direct'][0]['rate']:g}/s "
        f"(median of {len(res['streaming']['direct'])} interleaved runs):",
        "",
        *_table(res["streaming"], TARGETS, "ttfb_ms"),
        "",
        *_chain_lines(res, derived),
        "",
        *_cpu_lines(derived),
        "",
        "**Sequential** (one request at a time) and **closed loop, 32 in flight** "
        "(throughput; latency here is queueing; one run each):",
        "",
        "| target | sequential p50 ms | sequential p99 ms | 32 in flight req/s |",
        "| --- | --- | --- | --- |",
    ]
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
        + ", ".join(
            f"{t} {max_rate[t]['highest_rate_p99_under_50ms']:g}/s"
            for t in ("nginx", "python", "gateway", "litellm")
        )
        + " (LiteLLM: one worker, one core's worth).",
        "",
        "**Langfuse up, down, hung** (full chain at "
        f"{res['langfuse']['up']['rate']:g}/s): p50 "
        + ", ".join(
            f"{k} {v['latency_ms']['p50']:.1f} ms ({v['errors']} errors)"
            for k, v in res["langfuse"].items()
        )
        + "; spans lost: "
        + ", ".join(f"{k} {v['spans_lost']} of {v['requests']}" for k, v in res["langfuse"].items())
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
        *_settings_lines(res, derived["litellm_settings"]),
        "",
        "**Targets** (reported, never asserted in tests):",
        "",
    ]
    lines += [f"- {'met' if ok else 'NOT met'}: {name}" for name, ok in derived["targets"].items()]
    text = "\n".join(lines) + "\n"
    path.write_text(text)
    return text


def _over(runs: list[dict[str, Any]], base: list[dict[str, Any]], key: str, q: str) -> float:
    return median(r[key][q] for r in runs) - median(r[key][q] for r in base)


def write_chart(report: dict[str, Any], path: Path) -> None:
    import matplotlib  # here, not at import: the report's text needs no plotting library

    matplotlib.use("Agg")  # no display: write files only
    import matplotlib.pyplot as plt

    res, derived = report["results"], report["derived"]
    fixed, stream = res["fixed_rate"], res["streaming"]
    chain, chain_stream = res["litellm_chain"], res["litellm_streaming"]
    figure, axes = plt.subplots(2, 2, figsize=(11, 8))
    (hops_axis, ttfb_axis), (chain_axis, cpu_axis) = axes
    width = 0.35
    hops = list(HOPS)
    for offset, q in ((-width / 2, "p50"), (width / 2, "p99")):
        xs = [i + offset for i in range(len(hops))]
        hops_axis.bar(
            xs, [_over(fixed[h], fixed["direct"], "latency_ms", q) for h in hops], width, label=q
        )
        ttfb_axis.bar(
            xs, [_over(stream[h], stream["direct"], "ttfb_ms", q) for h in hops], width, label=q
        )
        through = ["litellm", "chain"]
        xs = [i + offset for i in range(len(through))]
        chain_axis.bar(
            xs,
            [median(r["latency_ms"][q] for r in chain[t]) for t in through],
            width,
            label=f"{q} latency",
        )
    chain_axis.bar(
        [len(through) + i for i in (-width / 2, width / 2)],  # LiteLLM's, then the chain's
        [median(r["ttfb_ms"]["p50"] for r in chain_stream[t]) for t in through],
        width,
        label="p50 first byte, streaming",
        color="grey",
    )
    hops_axis.set_title(f"Added latency at {fixed['direct'][0]['rate']:g} req/s (ms)")
    ttfb_axis.set_title(
        f"Added time to first byte, streaming at {stream['direct'][0]['rate']:g}/s (ms)"
    )
    for axis in (hops_axis, ttfb_axis):
        axis.set_xticks(range(len(hops)), ["nginx (floor)", "Python pass-through", "gateway"])
    ratio = derived["chain"]["ratio_p50"]["median"]
    chain_axis.set_title(
        f"Through LiteLLM at {chain['direct'][0]['rate']:g}/s (ms); "
        f"chain / LiteLLM p50 = {ratio:.3f}"
    )
    chain_axis.set_xticks(
        [0, 1, 2], ["LiteLLM", "gateway → LiteLLM", "first byte:\nLiteLLM | chain"]
    )
    cpu = derived["cpu_ms_per_request"]
    groups = ["nginx", "python", "gateway", "gateway_in_chain", "litellm", "chain"]
    cpu_axis.bar(
        range(len(groups)),
        [cpu[g]["median"] for g in groups],
        yerr=[
            [cpu[g]["median"] - cpu[g]["min"] for g in groups],
            [cpu[g]["max"] - cpu[g]["median"] for g in groups],
        ],
        color="tab:green",
    )
    cpu_axis.set_yscale("log")
    cpu_axis.set_title("CPU ms per request (log scale; bars: range of runs)")
    cpu_axis.set_xticks(
        range(len(groups)),
        ["nginx", "Python", "gateway", "gateway\nin chain", "LiteLLM", "whole\nchain"],
    )
    for axis in (hops_axis, ttfb_axis, chain_axis):
        axis.axhline(0, color="grey", linewidth=0.5)
        axis.legend(fontsize="small", loc="lower right")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
