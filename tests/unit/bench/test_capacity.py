"""The deployment's sizing from the bench's CPU per request (bench.capacity): the arithmetic,
and how it rewrites the chart's values and the README's table without touching the rest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from bench import capacity
from bench.capacity import (
    README,
    TABLE_BEGIN,
    TABLE_END,
    VALUES,
    cpu_quantity,
    load_results,
    parse_cpu,
    plan,
    write_readme,
    write_values,
)

from .synthetic import results


def test_pods_follow_from_the_cpu_per_request_the_request_and_the_target() -> None:
    # Streamed calls costing what plain ones do: the plain figures size alone.
    raw = results(
        gateway_cpu=(0.38, 0.40, 0.45),
        gateway_stream_cpu=0.4,
        litellm_cpu=25.0,
        litellm_stream_cpu=25.0,
    )
    gateway, litellm = plan(raw)
    # 250m at 70% is 175 ms of CPU a second: 437 requests of 0.4 ms.
    assert (gateway.rps_per_pod, gateway.rps_per_core) == (437, 2500)
    assert dict(gateway.pods) == {100: 1, 1000: 3}
    assert (gateway.min_replicas, gateway.max_replicas) == (2, 3)
    # One core at 70%: 700 ms a second, 28 requests of 25 ms; 1,000/s needs 36 pods.
    assert (litellm.rps_per_pod, litellm.rps_per_core) == (28, 40)
    assert dict(litellm.pods) == {100: 4, 1000: 36}
    assert (litellm.min_replicas, litellm.max_replicas) == (2, 36)
    assert {c.target_utilisation_pct for c in (gateway, litellm)} == {70}


def test_streamed_calls_weigh_in_by_their_share() -> None:
    _, litellm = plan(results(litellm_cpu=20.0, litellm_stream_cpu=50.0))
    assert capacity.STREAMING_SHARE == 0.5
    assert litellm.sized_cpu_ms == 35.0  # half at 20 ms, half at 50
    assert (litellm.rps_per_pod, litellm.max_replicas) == (20, 50)
    assert litellm.cpu_ms_streaming["median"] == 50.0


def test_a_pods_idle_cpu_comes_out_of_its_budget_and_out_of_each_request() -> None:
    raw = results(gateway_cpu=(0.4,) * 3, gateway_stream_cpu=0.4)
    # 4 ms a second idle: over a 10 s run of 200 requests, 0.2 ms of each 0.4 ms figure.
    raw["idle"] = {"elapsed_s": 10.0, "cores": {"gateway-direct": 0.004}}
    gateway, _ = plan(raw)
    assert gateway.cpu_ms_per_request["median"] == 0.2
    assert gateway.idle_ms_per_s == 4.0
    assert gateway.rps_per_pod == 855  # (175 - 4) ms a second / 0.2 ms


def test_the_median_run_sizes_and_the_range_is_kept_beside_it() -> None:
    (gateway, _) = plan(results(gateway_cpu=(0.40, 0.30, 2.0)))
    assert gateway.cpu_ms_per_request["median"] == 0.4
    assert (gateway.cpu_ms_per_request["min"], gateway.cpu_ms_per_request["max"]) == (0.3, 2.0)


def test_values_are_rewritten_between_each_components_markers_only() -> None:
    text = VALUES.read_text()
    capacities = plan(
        results(
            gateway_cpu=(0.5,), gateway_stream_cpu=0.5, litellm_cpu=20.0, litellm_stream_cpu=20.0
        )
    )
    written = write_values(text, capacities)
    values = yaml.safe_load(written)
    assert values["gateway"]["resources"]["requests"]["cpu"] == "250m"
    assert values["gateway"]["autoscaling"]["maxReplicas"] == 3  # 350 a pod, 1,000/s
    assert values["litellm"]["resources"]["requests"]["cpu"] == "1"
    assert values["litellm"]["autoscaling"]["maxReplicas"] == 29  # 35 a pod
    before, after = yaml.safe_load(text), values
    for component in ("gateway", "litellm"):
        rest = {k: v for k, v in before[component].items() if k not in ("resources", "autoscaling")}
        assert rest == {
            k: v for k, v in after[component].items() if k not in ("resources", "autoscaling")
        }
    assert {k: v for k, v in before.items() if k not in ("gateway", "litellm")} == {
        k: v for k, v in after.items() if k not in ("gateway", "litellm")
    }
    assert write_values(written, capacities) == written  # a second run changes nothing


def test_the_readme_table_is_replaced_between_its_markers() -> None:
    text = f"before\n{TABLE_BEGIN}\nold table\n{TABLE_END}\nafter\n"
    capacities = plan(results())
    written = write_readme(text, capacities, results())
    assert written.startswith(f"before\n{TABLE_BEGIN}\n| component |")
    assert written.endswith(f"{TABLE_END}\nafter\n")
    assert "old table" not in written
    row = (
        "| litellm | 25 (25 to 25, 6 runs) | 50 (50 to 50, 2 runs) | 37.5 | 0 | 27 "
        "| 1000m / 1500m | 18 | 6 | 56 | 2-56 |"
    )
    assert row in written
    readme = README.read_text()
    assert TABLE_BEGIN in readme
    assert TABLE_END in readme


def test_results_without_cpu_figures_are_refused(tmp_path: Path) -> None:
    old = results()
    for run in old["fixed_rate"]["gateway"]:
        del run["cpu"]
    path = tmp_path / "latest.json"
    path.write_text(json.dumps({"results": old}))
    with pytest.raises(ValueError, match="no CPU figures"):
        load_results(path)


def test_cpu_quantities_round_trip() -> None:
    for millicores in (250, 1000, 1500, 2000):
        quantity = yaml.safe_load(cpu_quantity(millicores))
        assert parse_cpu(quantity) == millicores
    assert parse_cpu(1) == 1000


def test_check_mode_reports_a_stale_file_and_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "latest.json"
    path.write_text(json.dumps({"results": results()}))
    values, readme = tmp_path / "values.yaml", tmp_path / "README.md"
    values.write_text(VALUES.read_text())
    readme.write_text(f"{TABLE_BEGIN}\n{TABLE_END}\n")
    argv = ["--results", str(path), "--values", str(values), "--readme", str(readme)]
    assert capacity.main([*argv, "--check"]) == 1
    assert values.read_text() == VALUES.read_text()
    assert capacity.main(argv) == 0
    assert capacity.main([*argv, "--check"]) == 0
