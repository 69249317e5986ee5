"""Disk use after each stage: what it measures, how the probe's output is read, how it reads.

Three measurements, all through Dagger (run.py takes them; nothing here imports dagger):

- the engine's cache: `dag.engine().local_cache().entry_set()`, its `disk_space_bytes` and
  `entry_count`, the engine's own account of everything it keeps (image layers, built
  files such as the image archives, and the cache volumes' contents);
- each of the pipeline's cache volumes (`du -sk` from a probe container that mounts them):
  pip's cache, the docker.io mirror's storage, k3s's state (its data dir: containerd's images
  and the cluster's state) and k3s's config (kubeconfig, server log);
- the filesystem those volumes live on, the engine's own disk (`df -kP` there): used and free.

A measurement that fails is noted, never a stage failure.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Filesystem:
    size_bytes: int
    used_bytes: int
    available_bytes: int


@dataclass(frozen=True)
class DiskUsage:
    engine_cache_bytes: int | None = None
    engine_cache_entries: int | None = None
    volumes: Mapping[str, int] = field(default_factory=dict)  # cache volume -> bytes
    filesystem: Filesystem | None = None
    problems: tuple[str, ...] = ()  # measurements that failed, one clause each


def probe_script(mount_root: str, volumes: Sequence[str]) -> str:
    """Run with each volume mounted at `<mount_root>/<volume>`: one `du <volume> <KiB>` line a
    volume, then `df <fields of df -kP>` for their filesystem. Files that vanish while du
    walks (k3s's state is wiped as it starts) do not stop it."""
    lines = []
    for volume in volumes:
        if not volume.replace("-", "").replace("_", "").isalnum():
            raise ValueError(f"not a plain cache volume name: {volume!r}")
        kib = (
            f"$(du -sk {shlex.quote(f'{mount_root}/{volume}')} 2>/dev/null | tail -n 1 | cut -f 1)"
        )
        lines.append(f'echo "du {volume} {kib}"')
    if volumes:
        first = shlex.quote(f"{mount_root}/{volumes[0]}")
        lines.append(f'echo "df $(df -kP {first} | tail -n 1)"')
    return "\n".join(lines)


def parse_probe(text: str) -> tuple[dict[str, int], Filesystem | None]:
    """Volume sizes and the filesystem from `probe_script`'s output; what is unreadable is
    left out rather than raised."""
    volumes: dict[str, int] = {}
    filesystem = None
    for line in text.splitlines():
        fields = line.split()
        if len(fields) == 3 and fields[0] == "du" and fields[2].isdigit():
            volumes[fields[1]] = int(fields[2]) * 1024
        elif len(fields) >= 5 and fields[0] == "df":
            # df -kP: filesystem, 1024-blocks, used, available, capacity, mounted on
            size, used, available = fields[2:5]
            if size.isdigit() and used.isdigit() and available.isdigit():
                filesystem = Filesystem(int(size) * 1024, int(used) * 1024, int(available) * 1024)
    return volumes, filesystem


def format_bytes(count: int) -> str:
    """Decimal units, as df -H and Docker print them: 0 B, 4.1 kB, 212 MB, 12.4 GB."""
    if count < 1000:
        return f"{count} B"
    value = float(count)
    for unit in ("kB", "MB", "GB", "TB"):
        value /= 1000
        if value < 1000 or unit == "TB":
            return f"{value:.1f} {unit}" if round(value, 1) < 100 else f"{value:.0f} {unit}"
    raise AssertionError("unreachable")


def describe(usage: DiskUsage) -> str:
    """One line: the engine's cache, each volume, the engine's filesystem, what failed."""
    parts = []
    if usage.engine_cache_bytes is not None:
        entries = (
            f" in {usage.engine_cache_entries:,} entries"
            if usage.engine_cache_entries is not None
            else ""
        )
        parts.append(f"engine cache {format_bytes(usage.engine_cache_bytes)}{entries}")
    if usage.volumes:
        sizes = ", ".join(f"{name} {format_bytes(size)}" for name, size in usage.volumes.items())
        parts.append(f"volumes {sizes}")
    if usage.filesystem is not None:
        fs = usage.filesystem
        parts.append(
            f"engine disk {format_bytes(fs.used_bytes)} used, "
            f"{format_bytes(fs.available_bytes)} free"
        )
    parts.extend(f"not measured: {problem}" for problem in usage.problems)
    return "; ".join(parts) or "nothing measured"


def format_markdown(rows: Sequence[tuple[str, DiskUsage]]) -> str:
    """GitHub's job summary: one row a measurement (before the run, after each stage)."""
    volumes: list[str] = []
    for _, usage in rows:
        volumes.extend(name for name in usage.volumes if name not in volumes)

    def size(value: int | None) -> str:
        return format_bytes(value) if value is not None else "-"

    header = ["after", "engine cache", *volumes, "engine disk free"]
    lines = [
        "| " + " | ".join(header) + " |",
        "| --- |" + " ---: |" * (len(header) - 1),
    ]
    for label, usage in rows:
        free = usage.filesystem.available_bytes if usage.filesystem else None
        cells = [
            label,
            size(usage.engine_cache_bytes),
            *(size(usage.volumes.get(name)) for name in volumes),
            size(free),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
