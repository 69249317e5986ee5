"""Disk use per stage: the probe script run by a real sh, its output read, and how it reads."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pipeline.disk_usage import (
    DiskUsage,
    Filesystem,
    describe,
    format_bytes,
    format_markdown,
    parse_probe,
    probe_script,
)

GB = 1000**3


def test_the_probe_measures_each_volume_and_their_filesystem(tmp_path: Path) -> None:
    (tmp_path / "pipeline-pip").mkdir()
    (tmp_path / "pipeline-pip" / "wheel").write_bytes(b"x" * 300_000)
    (tmp_path / "pipeline-k3s-config").mkdir()
    # pipeline-k3s-state is missing, as while k3s wipes it: measured as nothing, not an error.
    script = probe_script(
        str(tmp_path), ["pipeline-pip", "pipeline-k3s-state", "pipeline-k3s-config"]
    )
    result = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    volumes, filesystem = parse_probe(result.stdout)
    assert set(volumes) == {"pipeline-pip", "pipeline-k3s-config"}
    assert 300_000 <= volumes["pipeline-pip"] < 400_000
    assert filesystem is not None
    assert 0 < filesystem.available_bytes < filesystem.size_bytes
    assert 0 < filesystem.used_bytes < filesystem.size_bytes


def test_a_name_that_is_not_a_plain_volume_name_is_refused() -> None:
    with pytest.raises(ValueError, match="not a plain cache volume name"):
        probe_script("/volumes", ["pip; rm -rf /"])


def test_unreadable_output_is_left_out_not_raised() -> None:
    text = "du pipeline-pip 12\ndu pipeline-mirror \ndu\ndf overlay 100 x 50 50% /\ngarbage\n"
    assert parse_probe(text) == ({"pipeline-pip": 12 * 1024}, None)
    assert parse_probe("") == ({}, None)
    df = "df /dev/vda1 1000 600 400 60% /volumes/pipeline-pip"
    assert parse_probe(df) == ({}, Filesystem(1000 * 1024, 600 * 1024, 400 * 1024))


@pytest.mark.parametrize(
    ("count", "text"),
    [
        (0, "0 B"),
        (999, "999 B"),
        (4_096, "4.1 kB"),
        (212_000_000, "212 MB"),
        (12_400_000_000, "12.4 GB"),
        (99_960_000_000, "100 GB"),
        (3 * 1000**5, "3000 TB"),
    ],
)
def test_sizes_read_in_decimal_units(count: int, text: str) -> None:
    assert format_bytes(count) == text


USAGE = DiskUsage(
    engine_cache_bytes=12_400_000_000,
    engine_cache_entries=3_210,
    volumes={"pipeline-pip": 212_000_000, "pipeline-k3s-state": 5 * GB},
    filesystem=Filesystem(100 * GB, 60 * GB, 40 * GB),
)


def test_one_line_names_each_measurement() -> None:
    assert describe(USAGE) == (
        "engine cache 12.4 GB in 3,210 entries; "
        "volumes pipeline-pip 212 MB, pipeline-k3s-state 5.0 GB; "
        "engine disk 60.0 GB used, 40.0 GB free"
    )


def test_what_could_not_be_measured_is_said() -> None:
    usage = DiskUsage(
        volumes={"pipeline-pip": 0},
        problems=("the engine's cache (field localCache not found)",),
    )
    assert describe(usage) == (
        "volumes pipeline-pip 0 B; not measured: the engine's cache (field localCache not found)"
    )
    assert describe(DiskUsage()) == "nothing measured"


def test_the_job_summary_has_a_row_per_measurement() -> None:
    later = DiskUsage(engine_cache_bytes=13 * GB, volumes={"pipeline-docker-io-mirror": 2 * GB})
    assert format_markdown([("start", USAGE), ("build-images", later)]).splitlines() == [
        "| after | engine cache | pipeline-pip | pipeline-k3s-state | pipeline-docker-io-mirror "
        "| engine disk free |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
        "| start | 12.4 GB | 212 MB | 5.0 GB | - | 40.0 GB |",
        "| build-images | 13.0 GB | - | - | 2.0 GB | - |",
    ]
