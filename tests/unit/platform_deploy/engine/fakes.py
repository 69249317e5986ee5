"""Test doubles implementing the Cluster and HelmPort protocols, for the engine's decisions.

They hold objects in the API's JSON shape and record every write, so a test can say what a
deploy changed. They are not a cluster: nothing here schedules a pod or runs a chart; the
e2e test (tests/e2e/test_deploy_engine.py) runs the real adapters against a real k3s.
"""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from platform_deploy.config.deploy_settings import DeploySettings, Probe, ServiceRef
from platform_deploy.config.environments import Release
from platform_deploy.engine.identity import ObservedCluster
from platform_deploy.helm.releases import ChartSource, ReleaseState
from platform_deploy.helm.values import stored_values

Key = tuple[str, str, str]  # kind, namespace, name


def _key(manifest: Mapping[str, Any]) -> Key:
    metadata = manifest["metadata"]
    return str(manifest["kind"]), str(metadata.get("namespace") or ""), str(metadata["name"])


class FakeCluster:
    def __init__(self, api_server: str = "https://k3s:6443", uid: str = "uid-1") -> None:
        self.observed = ObservedCluster(api_server, uid)
        self.objects: dict[Key, dict[str, Any]] = {}
        self.writes: list[str] = []
        self.revision = 0
        self.redis_output = "maxmemory-policy\nnoeviction\n"
        # Probe name -> the timeout its pod was given.
        self.probe_timeouts: dict[str, int] = {}

    def identity(self) -> ObservedCluster:
        return self.observed

    def get(self, manifest: Mapping[str, Any]) -> dict[str, Any] | None:
        found = self.objects.get(_key(manifest))
        return copy.deepcopy(found) if found else None

    def apply(self, manifest: Mapping[str, Any], dry_run: bool) -> dict[str, Any]:
        live = self.objects.get(_key(manifest))
        applied = copy.deepcopy(dict(manifest))
        applied.setdefault("metadata", {})["resourceVersion"] = str(self.revision + 1)
        if (
            live is not None
            and {k: v for k, v in live.items() if k != "metadata"}
            == {k: v for k, v in applied.items() if k != "metadata"}
            and live["metadata"].get("labels") == applied["metadata"].get("labels")
        ):
            return copy.deepcopy(live)  # server-side apply of the same content is a no-op
        if not dry_run:
            self.revision += 1
            self.objects[_key(manifest)] = applied
            self.writes.append(f"apply {' '.join(_key(manifest))}")
        return applied

    def create_if_absent(self, manifest: Mapping[str, Any]) -> bool:
        if _key(manifest) in self.objects:
            return False
        body = copy.deepcopy(dict(manifest))
        if "stringData" in body:
            body["data"] = {
                k: base64.b64encode(v.encode()).decode() for k, v in body.pop("stringData").items()
            }
        self.objects[_key(manifest)] = body
        self.writes.append(f"create {' '.join(_key(manifest))}")
        return True

    def delete(self, manifest: Mapping[str, Any]) -> None:
        if self.objects.pop(_key(manifest), None) is not None:
            self.writes.append(f"delete {' '.join(_key(manifest))}")
        if manifest.get("kind") == "ExternalSecret":
            # Garbage collection: the target Secret goes too only if it names this
            # ExternalSecret as its owner (creationPolicy Owner), never otherwise (Orphan).
            target = (
                "Secret",
                manifest["metadata"]["namespace"],
                manifest["spec"]["target"]["name"],
            )
            owners = (self.objects.get(target, {}).get("metadata") or {}).get("ownerReferences")
            if any(
                o.get("kind") == "ExternalSecret" and o.get("name") == manifest["metadata"]["name"]
                for o in owners or []
            ):
                self.objects.pop(target, None)

    def read_secret(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.get({"kind": "Secret", "metadata": {"namespace": namespace, "name": name}})

    def list_secrets(self, namespace: str) -> list[dict[str, Any]]:
        return [
            copy.deepcopy(o)
            for (k, ns, _), o in self.objects.items()
            if k == "Secret" and ns == namespace
        ]

    def workloads(self, namespaces: Sequence[str]) -> list[dict[str, Any]]:
        return []

    def exec_in_pod(
        self, namespace: str, selector: str, container: str, command: list[str], stdin: str
    ) -> str:
        return self.redis_output

    def run_probe(self, probe: Probe, image: str, timeout_s: int) -> tuple[int | None, str]:
        self.probe_timeouts[probe.name] = timeout_s
        return (0 if probe.expect == "open" else 1), ""

    def http(
        self,
        service: ServiceRef,
        method: str,
        path: str,
        headers: Mapping[str, str],
        body: bytes | None,
    ) -> tuple[int, bytes]:
        return 503, b"{}"


class SyncingCluster(FakeCluster):
    """External Secrets as the operator (2.9.0) behaves: an applied ExternalSecret becomes
    Ready and writes its target Secret from the store (remoteKey -> value), overwriting one
    it does not own; it labels the Secret reconcile.external-secrets.io/managed, and names
    the ExternalSecret as its owner only under creationPolicy Owner."""

    def __init__(self, store: Mapping[str, str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.store = dict(store)

    def apply(self, manifest: Mapping[str, Any], dry_run: bool) -> dict[str, Any]:
        applied = super().apply(manifest, dry_run)
        if manifest.get("kind") == "ExternalSecret" and not dry_run:
            namespace = manifest["metadata"]["namespace"]
            data = {
                item["secretKey"]: base64.b64encode(
                    self.store[item["remoteRef"]["key"]].encode()
                ).decode()
                for item in manifest["spec"]["data"]
            }
            target = manifest["spec"]["target"]["name"]
            metadata: dict[str, Any] = {
                "name": target,
                "namespace": namespace,
                "labels": {"reconcile.external-secrets.io/managed": "true"},
            }
            if manifest["spec"]["target"].get("creationPolicy", "Owner") == "Owner":
                metadata["ownerReferences"] = [
                    {"kind": "ExternalSecret", "name": manifest["metadata"]["name"]}
                ]
            self.objects[("Secret", namespace, target)] = {
                "kind": "Secret",
                "metadata": metadata,
                "data": data,
            }
            self.objects[_key(manifest)]["status"] = {
                "conditions": [{"type": "Ready", "status": "True", "reason": "SecretSynced"}]
            }
        return applied


class FakeHelm:
    def __init__(self) -> None:
        self.releases: dict[str, tuple[ReleaseState, dict[str, Any], str]] = {}
        self.calls: list[str] = []

    def _render(self, release: Release, values: Sequence[Path]) -> str:
        # A stand-in manifest that depends on the values, as a chart's would.
        return json.dumps(
            {
                "kind": "ConfigMap",
                "metadata": {"name": release.name},
                "data": {"values": json.dumps(stored_values(values), sort_keys=True)},
            }
        )

    def state(self, release: Release) -> ReleaseState | None:
        found = self.releases.get(release.name)
        return found[0] if found else None

    def deployed_values(self, release: Release) -> dict[str, Any]:
        return copy.deepcopy(self.releases[release.name][1])

    def deployed_manifest(self, release: Release) -> str:
        return self.releases[release.name][2]

    def dry_run(
        self,
        action: Literal["install", "upgrade"],
        release: Release,
        source: ChartSource,
        values: Sequence[Path],
    ) -> str:
        self.calls.append(f"dry-run {action} {release.name}")
        return self._render(release, values)

    def apply(
        self,
        action: Literal["install", "upgrade"],
        release: Release,
        source: ChartSource,
        values: Sequence[Path],
        settings: DeploySettings,
    ) -> None:
        self.calls.append(f"{action} {release.name}")
        previous = self.releases.get(release.name)
        revision = previous[0].revision + 1 if previous else 1
        chart = f"{source.chart}-{source.version}" if source.repository else "local-0.1.0"
        state = ReleaseState(release.name, release.namespace, revision, "deployed", chart)
        self.releases[release.name] = (state, stored_values(values), self._render(release, values))
