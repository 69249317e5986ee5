"""The LiteLLM settings comparison's rules (bench.litellm_settings): which candidates exist,
that none touches the seed's behaviour, how a candidate's config is written, when its
behaviour counts as kept, and when its measured pairs count as a gain."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from bench.litellm_settings import ALL_NAME, CANDIDATES, behaviour_kept, select, write_config
from bench.pairs import summarize_pairs, verdict
from devstack.stack import LITELLM_CONFIG, MODELS


def test_every_candidate_keeps_the_seeds_models_callbacks_and_drop_params(
    tmp_path: Path,
) -> None:
    for candidate in select("all"):
        config = yaml.safe_load(write_config(candidate, tmp_path).read_text())
        settings = config["litellm_settings"]
        assert settings["drop_params"] is True, candidate.name
        assert settings["success_callback"] == ["langfuse"], candidate.name
        assert settings["failure_callback"] == ["langfuse"], candidate.name
        assert [m["model_name"] for m in config["model_list"]] == list(MODELS), candidate.name


def test_a_candidates_config_is_the_shipped_one_with_its_settings_merged_in(
    tmp_path: Path,
) -> None:
    shipped = yaml.safe_load(LITELLM_CONFIG.read_text())
    (candidate,) = select("no-spend-and-error-logs")
    written = yaml.safe_load(write_config(candidate, tmp_path).read_text())
    assert written["general_settings"] == shipped["general_settings"] | {
        "disable_spend_logs": True,
        "disable_error_logs": True,
    }
    assert {k: v for k, v in written.items() if k != "general_settings"} == {
        k: v for k, v in shipped.items() if k != "general_settings"
    }
    assert yaml.safe_load(LITELLM_CONFIG.read_text()) == shipped  # the shipped file untouched


def test_selecting_candidates_by_name() -> None:
    every = select("all")
    assert [c.name for c in every] == [*(c.name for c in CANDIDATES), ALL_NAME]
    combined = every[-1]
    for candidate in CANDIDATES:
        assert candidate.env.items() <= combined.env.items()
    assert select("none") == []
    assert [c.name for c in select("log-level-warning, production-mode")] == [
        "log-level-warning",
        "production-mode",
    ]
    with pytest.raises(ValueError, match="unknown LiteLLM settings"):
        select("log-level-warning,turbo")


def _checks(statuses: dict[str, int] | None = None, spans: int = 2) -> dict[str, Any]:
    return {
        "statuses": statuses or dict.fromkeys(MODELS, 200),
        "spans": spans,
        "attributes": {"claude": ["langfuse.observation.input", "session.id"]},
        "cost_above_zero": {"claude": True},
    }


def test_behaviour_is_kept_only_with_both_answers_both_spans_and_the_same_attributes() -> None:
    shipped = _checks()
    assert behaviour_kept(_checks(), shipped) == []
    dropped = _checks(statuses={"claude-sonnet": 400, "groq-llama": 200})
    assert behaviour_kept(dropped, shipped) == ["claude-sonnet answered 400"]
    assert behaviour_kept(_checks(spans=1), shipped) == ["1 of 2 spans reached Langfuse"]
    fewer = _checks() | {"attributes": {"claude": ["session.id"]}}
    assert behaviour_kept(fewer, shipped) == [
        "the spans' attributes differ from the shipped config's"
    ]
    free = _checks() | {"cost_above_zero": {"claude": False}}
    assert len(behaviour_kept(free, shipped)) == 1


def _pairs(cpu_pct: list[float], p50_ms: list[float]) -> list[dict[str, float]]:
    return [{"cpu_delta_pct": c, "p50_delta_ms": p} for c, p in zip(cpu_pct, p50_ms, strict=True)]


def test_a_gain_counts_when_every_pair_agrees_and_the_median_is_large_enough() -> None:
    assert verdict(_pairs([-6, -4, -8, -5], [0.2, -0.3, 0.1, -0.1]), []) == "helps"
    assert verdict(_pairs([1, -1, 0.5, -2], [-2, -1.5, -3, -1.2]), []) == "helps"
    # Every pair lower, but by less than the threshold: within what the machine varies.
    assert verdict(_pairs([-1, -2, -1.5, -0.5], [0, 0, 0, 0]), []) == "no measurable difference"
    # One pair the other way: no claim.
    assert verdict(_pairs([-6, -4, 3, -5], [0, 0, 0, 0]), []) == "no measurable difference"
    assert verdict(_pairs([5, 4, 6, 7], [0, 0, 0, 0]), []) == "worse"


def test_pairs_run_on_a_busy_machine_do_not_count() -> None:
    pairs = _pairs([-6, -4, -8, -5], [0, 0, 0, 0])
    for pair in pairs[:2]:
        pair["candidate"] = {"busy": ["other processes used 0.90 cores"]}  # type: ignore[assignment]
    assert verdict(pairs, []) == "too few quiet pairs (2 of 4)"
    assert verdict(pairs[2:] + _pairs([-7], [0]), []) == "helps"


def test_failed_requests_are_a_broken_behaviour() -> None:
    run = {"p50_ms": 18.0, "p99_ms": 25.0, "cpu_ms_per_request": 22.0, "busy": []}
    pair = {
        "shipped": run | {"errors": 0},
        "candidate": run | {"errors": 3},
        "p50_delta_ms": 0.0,
        "p99_delta_ms": 0.0,
        "cpu_delta_ms": 0.0,
        "cpu_delta_pct": 0.0,
    }
    summary = summarize_pairs([pair] * 3, [])
    assert summary["behaviour_problems"] == ["9 requests failed"]
    assert summary["verdict"] == "breaks behaviour"


def test_a_broken_behaviour_outweighs_any_gain() -> None:
    gain = _pairs([-20, -20], [-5, -5])
    assert verdict(gain, ["groq-llama answered 500"]) == "breaks behaviour"
