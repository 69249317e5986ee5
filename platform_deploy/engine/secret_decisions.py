"""A test cluster's secrets: which to create and which to keep, from what the cluster holds.

A Secret that exists is never rewritten (a rerun must not rotate a password that a database
volume already holds); only absent ones are created, with values consistent with the ones
kept: a secret in two namespaces has one value, and the gateway's clients file admits the
test client's key that is actually in the cluster.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from platform_deploy.config.inventory import Inventory
from platform_deploy.engine.generated_secrets import GeneratedSecrets, derived_value

SecretId = tuple[str, str]  # (namespace, name)
MANAGED_BY = {"app.kubernetes.io/managed-by": "platform-deploy"}


def decode_secret(secret: Mapping[str, Any]) -> dict[str, str]:
    """A Secret's values from the API's JSON shape (data is base64). Bytes that are not UTF-8
    (a certificate, a Helm release blob) survive exactly, so comparisons stay exact."""
    data = secret.get("data") or {}
    return {
        str(key): base64.b64decode(value).decode("utf-8", "surrogateescape")
        for key, value in data.items()
    }


@dataclass(frozen=True)
class SecretsDecision:
    create: tuple[SecretId, ...]
    keep: tuple[SecretId, ...]
    stop: tuple[str, ...]
    # name -> key -> value for what is created; never shown.
    values: Mapping[str, Mapping[str, str]] = field(repr=False)

    def manifest(self, secret_id: SecretId) -> dict[str, Any]:
        namespace, name = secret_id
        return {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name, "namespace": namespace, "labels": dict(MANAGED_BY)},
            "type": "Opaque",
            "data": {
                key: base64.b64encode(value.encode()).decode("ascii")
                for key, value in sorted(self.values[name].items())
            },
        }


def decide_generated(
    inventory: Inventory,
    observed: Mapping[SecretId, Mapping[str, str] | None],
    fresh: GeneratedSecrets,
) -> SecretsDecision:
    """observed: (namespace, name) -> the Secret's decoded values, or None when absent."""
    create: list[SecretId] = []
    keep: list[SecretId] = []
    stop: list[str] = []
    values: dict[str, dict[str, str]] = {}
    present_names: set[str] = set()
    specs = list(inventory.in_environment("ci"))
    for spec in specs:
        declared = {key.name for key in spec.keys}
        copies = []
        for namespace in spec.namespaces_in("ci"):
            existing = observed.get((namespace, spec.name))
            if existing is None:
                create.append((namespace, spec.name))
                continue
            keep.append((namespace, spec.name))
            missing = declared - set(existing)
            if missing:
                stop.append(
                    f"Secret {namespace}/{spec.name} exists without key(s) "
                    f"{', '.join(sorted(missing))}; it is not rewritten: delete it to have it "
                    "generated again"
                )
            copies.append({key: existing[key] for key in declared if key in existing})
        if any(copy != copies[0] for copy in copies[1:]):
            stop.append(f"Secret {spec.name} differs between its namespaces")
        if copies:
            present_names.add(spec.name)
            values[spec.name] = dict(copies[0])
        else:
            values[spec.name] = {key: fresh.value(spec.name, key) for key in sorted(declared)}
    for spec in specs:
        for key in spec.keys:
            source = key.generate.source if key.generate else None
            if source is None or key.generate is None:
                continue
            if spec.name not in present_names:
                source_value = values[source[0]].get(source[1])
                if source_value is not None:
                    values[spec.name][key.name] = derived_value(key.generate, source_value)
            elif source[0] not in present_names:
                stop.append(
                    f"Secret {spec.name} exists but {source[0]}, whose key it admits, does not; "
                    f"delete {spec.name} to have both generated again"
                )
    created_names = {name for _, name in create}
    return SecretsDecision(
        create=tuple(create),
        keep=tuple(keep),
        stop=tuple(stop),
        values={name: values[name] for name in created_names},
    )
