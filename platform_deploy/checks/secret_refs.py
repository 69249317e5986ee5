"""Every reference to a Secret, in rendered manifests and in Langfuse's values, and whether
the inventory declares that secret, with that key, in that namespace and environment."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from platform_deploy.config.environments import EnvironmentName
from platform_deploy.config.files import Manifest, describe
from platform_deploy.config.inventory import Inventory

POD_TEMPLATE_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}


@dataclass(frozen=True)
class SecretRef:
    namespace: str
    secret: str
    # None: the reference takes the whole Secret (envFrom, a volume without items), or, for
    # an existingSecret setting, leaves the key to the chart's default (a problem).
    key: str | None
    where: str
    whole_secret: bool = False


def pod_spec(manifest: Manifest) -> Mapping[str, Any] | None:
    kind = manifest.get("kind")
    spec = manifest.get("spec") or {}
    if kind == "Pod":
        return spec
    if kind in POD_TEMPLATE_KINDS:
        return (spec.get("template") or {}).get("spec") or {}
    if kind == "CronJob":
        return (((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}).get(
            "spec"
        ) or {}
    return None


def _container_refs(
    container: Mapping[str, Any], namespace: str, where: str
) -> Iterator[SecretRef]:
    for env in container.get("env") or []:
        ref = (env.get("valueFrom") or {}).get("secretKeyRef")
        if ref:
            yield SecretRef(namespace, ref["name"], ref["key"], f"{where} env {env['name']}")
    for source in container.get("envFrom") or []:
        ref = source.get("secretRef")
        if ref:
            yield SecretRef(namespace, ref["name"], None, f"{where} envFrom", whole_secret=True)


def _volume_refs(volume: Mapping[str, Any], namespace: str, where: str) -> Iterator[SecretRef]:
    sources = [volume.get("secret")] + [
        projected.get("secret")
        for projected in (volume.get("projected") or {}).get("sources") or []
    ]
    for source in sources:
        if not source:
            continue
        name = source.get("secretName") or source.get("name")
        items = source.get("items") or []
        if items:
            for item in items:
                yield SecretRef(namespace, name, item["key"], f"{where} volume {volume['name']}")
        else:
            yield SecretRef(namespace, name, None, f"{where} volume {volume['name']}", True)


def refs_in_manifest(manifest: Manifest, default_namespace: str) -> Iterator[SecretRef]:
    namespace = (manifest.get("metadata") or {}).get("namespace") or default_namespace
    where = describe(manifest)
    spec = pod_spec(manifest)
    if spec is not None:
        for container in (spec.get("initContainers") or []) + (spec.get("containers") or []):
            yield from _container_refs(
                container, namespace, f"{where} container {container['name']}"
            )
        for volume in spec.get("volumes") or []:
            yield from _volume_refs(volume, namespace, where)
        for pull in spec.get("imagePullSecrets") or []:
            yield SecretRef(namespace, pull["name"], None, f"{where} imagePullSecrets", True)
    if manifest.get("kind") == "ClusterSecretStore":
        doppler = (manifest["spec"]["provider"].get("doppler") or {}).get("auth") or {}
        token = (doppler.get("secretRef") or {}).get("dopplerToken")
        if token:
            # The key defaults to dopplerToken when unset.
            key = token.get("key") or "dopplerToken"
            yield SecretRef(token["namespace"], token["name"], key, f"{where} dopplerToken")
    if manifest.get("kind") == "Ingress":
        for tls in (manifest.get("spec") or {}).get("tls") or []:
            if tls.get("secretName"):
                yield SecretRef(namespace, tls["secretName"], None, f"{where} tls", True)


# Langfuse 1.5.41's existingSecret settings and the values that name their keys.
EXISTING_SECRET_KEYS: dict[tuple[str, ...], tuple[tuple[str, ...], ...]] = {
    ("postgresql", "auth"): (("secretKeys", "userPasswordKey"), ("secretKeys", "adminPasswordKey")),
    ("redis", "auth"): (("existingSecretPasswordKey",),),
    ("redis", "sentinel"): (("existingSecretPasswordKey",),),
    ("clickhouse", "auth"): (("existingSecretKey",),),
    ("s3", "auth"): (("rootUserSecretKey",), ("rootPasswordSecretKey",)),
}


class UnknownSecretSetting(ValueError):
    """An existingSecret somewhere this check does not know how to read: extend the table."""


def refs_in_values(values: Mapping[str, Any], namespace: str, where: str) -> Iterator[SecretRef]:
    """References in a chart's (merged) values: secretKeyRef maps, existingSecret settings
    with their key settings, and env entries with valueFrom or envFrom."""

    def walk(node: Any, path: tuple[str, ...]) -> Iterator[SecretRef]:
        if isinstance(node, list):
            for index, item in enumerate(node):
                yield from walk(item, (*path, str(index)))
            return
        if not isinstance(node, Mapping):
            return
        dotted = ".".join(path)
        ref = node.get("secretKeyRef")
        if isinstance(ref, Mapping) and ref.get("name"):
            yield SecretRef(namespace, ref["name"], ref.get("key"), f"{where} {dotted}")
        secret_ref = node.get("secretRef")
        if isinstance(secret_ref, Mapping) and secret_ref.get("name"):
            yield SecretRef(namespace, secret_ref["name"], None, f"{where} {dotted}", True)
        if node.get("existingSecret"):
            if path not in EXISTING_SECRET_KEYS:
                raise UnknownSecretSetting(f"{where}: {dotted}.existingSecret")
            for key_path in EXISTING_SECRET_KEYS[path]:
                key: Any = node
                for part in key_path:
                    key = key.get(part) if isinstance(key, Mapping) else None
                name = ".".join((*path, *key_path))
                yield SecretRef(namespace, node["existingSecret"], key or None, f"{where} {name}")
        for child_key, child in node.items():
            if child_key not in {"secretKeyRef", "secretRef"}:
                yield from walk(child, (*path, str(child_key)))

    yield from walk(values, ())


def unresolved(
    refs: list[SecretRef], inventory: Inventory, environment: EnvironmentName
) -> list[str]:
    """Each reference the inventory does not satisfy, as a sentence."""
    declared = inventory.declared(environment)
    problems = []
    for ref in refs:
        keys = declared.get((ref.namespace, ref.secret))
        if keys is None:
            problems.append(
                f"{ref.where}: {ref.namespace}/{ref.secret} is not declared for {environment}"
            )
        elif ref.key is None and not ref.whole_secret:
            problems.append(f"{ref.where}: names no key of {ref.namespace}/{ref.secret}")
        elif ref.key is not None and ref.key not in keys:
            problems.append(
                f"{ref.where}: {ref.namespace}/{ref.secret} has no key {ref.key!r} "
                f"(declared: {', '.join(sorted(keys))})"
            )
    return problems
