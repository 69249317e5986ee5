"""The bench's figures from its runs (bench.derive) and the report that prints them
(bench.report): CPU per request per hop, the gateway's share of the chain, run by run,
the machine's noise, and the targets that follow."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.derive import TARGET_CHAIN_RATIO, chain_figures, cpu_figures, derive, noise
from bench.report import write_markdown

from .synthetic import CHAIN_CPU, results, run


def test_cpu_per_request_of_each_hop_and_of_the_whole_chain() -> None:
    cpu = cpu_figures(results(gateway_cpu=(0.3, 0.5, 0.4), litellm_cpu=24.0))
    assert cpu["gateway"] | {} == {"median": 0.4, "min": 0.3, "max": 0.5, "n": 3, "busy_runs": 0}
    assert cpu["gateway_in_chain"]["median"] == CHAIN_CPU["gateway"]
    assert cpu["litellm"]["n"] == 6  # LiteLLM's runs alone and behind the gateway
    assert cpu["chain"]["median"] == pytest.approx(CHAIN_CPU["gateway"] + CHAIN_CPU["redis"] + 24)


def test_the_gateways_share_of_the_chain_is_taken_run_by_run() -> None:
    figures = chain_figures(results(litellm_p50=(18.0, 30.0, 20.0), chain_p50=(18.9, 30.3, 20.4)))
    # Pairs: 18.9/18.0, 30.3/30.0, 20.4/20.0: the stalled middle run cancels out.
    ratio = figures["ratio_p50"]
    assert ratio["median"] == pytest.approx(1.02, abs=0.0005)
    assert ratio["min"] == pytest.approx(1.01, abs=0.0005)
    assert ratio["max"] == pytest.approx(1.05, abs=0.0005)
    assert figures["added_p50_ms"]["median"] == pytest.approx(0.4)
    assert figures["ttfb_added_p50_ms"]["median"] == pytest.approx(1.0)


def test_the_targets_include_the_gateways_cpu_and_its_share_of_the_chain() -> None:
    ratio = f"gateway in the chain: p50 over LiteLLM's alone <= {TARGET_CHAIN_RATIO}"
    met = derive(results(gateway_cpu=(0.4,) * 3, chain_p50=(18.2, 19.3, 20.4)))["targets"]
    assert met["gateway CPU per request <= 0.5 ms"] is True
    assert met[ratio] is True
    missed = derive(results(gateway_cpu=(0.7,) * 3, chain_p50=(19.0, 20.0, 21.0)))["targets"]
    assert missed["gateway CPU per request <= 0.5 ms"] is False
    assert missed[ratio] is False


def test_noise_names_every_busy_run_and_the_worst_signals() -> None:
    raw = results()
    busy = run(19.0, cpu=CHAIN_CPU, busy=["other processes used 0.60 cores"])
    raw["litellm_chain"]["chain"][1] = busy
    raw["litellm_chain"]["chain"][1]["cpu"]["others_cores"] = 0.6
    found = noise(raw)
    assert found["busy"] == [
        {
            "section": "litellm_chain",
            "target": "chain",
            "run": 2,
            "reasons": ["other processes used 0.60 cores"],
        }
    ]
    assert found["max_others_cores"] == 0.6
    assert cpu_figures(raw)["gateway_in_chain"]["busy_runs"] == 1


def test_the_report_shows_cpu_the_chain_the_settings_and_busy_figures(tmp_path: Path) -> None:
    raw = results()
    raw["litellm_chain"]["chain"][0]["busy"] = ["CPU steal 5.0%"]
    pair = {"shipped": run(19.0), "candidate": run(18.0)}
    raw["litellm_settings"] = {
        "log-level-warning": {
            "pairs": [pair],
            "shipped_cpu_ms_per_request": {"median": 25.0, "min": 25.0, "max": 25.0, "n": 1},
            "cpu_delta_pct": {"median": -4.0, "min": -4.0, "max": -4.0, "n": 1},
            "p50_delta_ms": {"median": -1.0, "min": -1.0, "max": -1.0, "n": 1},
            "p99_delta_ms": {"median": -1.5, "min": -1.5, "max": -1.5, "n": 1},
            "errors": 0,
            "busy_runs": 0,
            "behaviour_problems": [],
            "verdict": "helps",  # as the run saw it; the report shows the pairs' own
        }
    }
    report = {
        "machine": {"cpu": "test", "cores": 2, "python": "3.11", "date": "today"},
        "results": raw,
        "derived": derive(raw),
    }
    text = write_markdown(report, tmp_path / "latest.md")
    assert "**CPU per request**" in text
    assert "| gateway alone, at the fixed rate | 0.400 (0.380 to 0.420, 3 runs) | 2,500" in text
    assert "| the whole chain: gateway + Redis + LiteLLM |" in text
    assert "The gateway in the chain (each run of the chain over the LiteLLM run beside it)" in text
    assert "| gateway → LiteLLM → emulator (busy) |" in text
    assert "- litellm_chain / chain run 1: CPU steal 5.0%" in text
    verdict = "too few quiet pairs (1 of 1)"  # re-derived from the one pair, not "helps"
    row = f"| log-level-warning | 25.00 | -4.0 % | -1.00 | -1.50 | 0 | kept | {verdict} |"
    assert row in text
    assert "First byte through the chain" in text
