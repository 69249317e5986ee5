"""Running network-config-analyzer (nca) and reading its connectivity map.

nca computes, from the NetworkPolicies and the workloads, which connections Kubernetes
permits between every pair of endpoints (and to and from outside the cluster).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from platform_deploy.config.files import Manifest, dump_manifests

EXTERNAL = "external"  # any address outside the cluster's pods
ALL = "all"
_LINE = re.compile(r"^(?P<source>\S+) => (?P<destination>\S+) : (?P<connection>.+)$")
_RULE = re.compile(r"\{protocols:(?P<protocols>[A-Z,]+)(?:,dst_ports:(?P<ports>[0-9,\-]+))?\}")
_IP_RANGE = re.compile(r"^[0-9.]+-[0-9.]+$|^[0-9a-f:]+-[0-9a-f:]+$")
# nca says this whenever policies come from their own file, as they do here.
_EXPECTED_WARNINGS = ("policies will be taken from the provided networkPolicy list key",)


class NcaError(RuntimeError):
    """nca failed, warned, or printed something this reader does not understand."""


@dataclass(frozen=True)
class Connection:
    source: str  # namespace/name, or EXTERNAL
    destination: str
    # "TCP/3000"-style entries, "TCP/*" for every port of a protocol, or ALL.
    allowed: frozenset[str]


def _endpoint(raw: str) -> str:
    if _IP_RANGE.match(raw):
        return EXTERNAL
    return re.sub(r"\[[A-Za-z]+\]$", "", raw)


def _ports(text: str) -> set[int]:
    ports: set[int] = set()
    for part in text.split(","):
        low, _, high = part.partition("-")
        ports.update(range(int(low), int(high or low) + 1))
    return ports


def _allowed(connection: str) -> frozenset[str]:
    if connection.strip() == "All connections":
        return frozenset({ALL})
    allowed: set[str] = set()
    matched = _RULE.findall(connection)
    if not matched or _RULE.sub("", connection).strip("; "):
        raise NcaError(f"unreadable connection description: {connection!r}")
    for protocols, ports in matched:
        for protocol in protocols.split(","):
            if ports:
                allowed.update(f"{protocol}/{port}" for port in _ports(ports))
            else:
                allowed.add(f"{protocol}/*")
    return frozenset(allowed)


def parse(output: str) -> list[Connection]:
    connections: dict[tuple[str, str], set[str]] = {}
    for line in output.splitlines():
        found = _LINE.match(line.strip())
        if not found:
            continue
        key = (_endpoint(found["source"]), _endpoint(found["destination"]))
        connections.setdefault(key, set()).update(_allowed(found["connection"]))
    return [Connection(s, d, frozenset(a)) for (s, d), a in sorted(connections.items())]


def executable() -> str | None:
    return shutil.which("nca")


def connectivity(resources: list[Manifest], policies: list[Manifest]) -> list[Connection]:
    binary = executable()
    if binary is None:
        raise NcaError("nca is not installed here (locks/nca.txt; `nox -s nca` installs it)")
    with tempfile.TemporaryDirectory(prefix="nca-") as scratch:
        resources_file = Path(scratch, "resources.yaml")
        policies_file = Path(scratch, "policies.yaml")
        resources_file.write_text(dump_manifests(resources), encoding="utf-8")
        policies_file.write_text(dump_manifests(policies), encoding="utf-8")
        result = subprocess.run(  # noqa: S603  (nca from this environment, our own files)
            [
                binary,
                "--connectivity",
                str(policies_file),
                "--resource_list",
                str(resources_file),
                "--output_format",
                "txt_no_fw_rules",
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
    output = result.stdout + result.stderr
    warnings = [
        line
        for line in output.splitlines()
        if "Warning" in line and not any(expected in line for expected in _EXPECTED_WARNINGS)
    ]
    if result.returncode != 0 or warnings or "=>" not in output:
        details = warnings or output.strip().splitlines()[-5:]
        raise NcaError(f"nca (exit {result.returncode}): " + " | ".join(details))
    return parse(output)
