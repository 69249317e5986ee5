"""deploy/secrets/inventory.yaml: every secret, where it is needed, and where it comes from."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from platform_deploy.config.environments import ENVIRONMENT_NAMES, EnvironmentName
from platform_deploy.config.files import DEPLOY_DIR, load_mapping

INVENTORY_FILE = DEPLOY_DIR / "secrets" / "inventory.yaml"

Format = Literal["hex", "base64", "alphanumeric", "uuid4", "gateway-clients-json"]
_FORMATS: tuple[Format, ...] = ("hex", "base64", "alphanumeric", "uuid4", "gateway-clients-json")


class InventoryError(ValueError):
    """The inventory is inconsistent; the message names the secret and key."""


@dataclass(frozen=True)
class Generator:
    """How a test cluster generates one key's value."""

    format: Format
    length: int | None = None  # characters (hex, alphanumeric)
    random_bytes: int | None = None  # how many random bytes (base64)
    prefix: str = ""
    # gateway-clients-json: "<secret>/<key>" of the client key the file admits
    source: tuple[str, str] | None = None
    client: str | None = None
    models: tuple[str, ...] = ()


@dataclass(frozen=True)
class SecretKey:
    name: str
    generate: Generator | None
    remote_key: str | None  # the key in the ClusterSecretStore (Doppler's name in production)
    bootstrap: str | None  # supplied by the operator, not by any store


@dataclass(frozen=True)
class SecretSpec:
    name: str
    purpose: str
    namespaces: Mapping[str, tuple[EnvironmentName, ...]]
    keys: tuple[SecretKey, ...]

    def namespaces_in(self, environment: EnvironmentName) -> tuple[str, ...]:
        return tuple(ns for ns, envs in self.namespaces.items() if environment in envs)

    def environments(self) -> frozenset[EnvironmentName]:
        return frozenset(env for envs in self.namespaces.values() for env in envs)

    def key(self, name: str) -> SecretKey:
        for key in self.keys:
            if key.name == name:
                return key
        raise KeyError(f"secret {self.name} has no key {name!r}")

    @property
    def bootstrapped(self) -> bool:
        return all(key.bootstrap is not None for key in self.keys)


@dataclass(frozen=True)
class Inventory:
    store: str
    doppler_project: str
    doppler_config: str
    secrets: tuple[SecretSpec, ...]

    def secret(self, name: str) -> SecretSpec:
        for secret in self.secrets:
            if secret.name == name:
                return secret
        raise KeyError(f"the inventory declares no secret {name!r}")

    def in_environment(self, environment: EnvironmentName) -> Iterator[SecretSpec]:
        return (s for s in self.secrets if environment in s.environments())

    def declared(self, environment: EnvironmentName) -> dict[tuple[str, str], frozenset[str]]:
        """(namespace, secret name) -> its keys, for every secret present in the environment."""
        return {
            (namespace, secret.name): frozenset(key.name for key in secret.keys)
            for secret in self.in_environment(environment)
            for namespace in secret.namespaces_in(environment)
        }


def _environments(value: Any, where: str) -> tuple[EnvironmentName, ...]:
    if not isinstance(value, list) or not value:
        raise InventoryError(f"{where}: list the environments (ci, prod) that need it")
    found: list[EnvironmentName] = []
    for item in value:
        match = [name for name in ENVIRONMENT_NAMES if name == item]
        if not match:
            raise InventoryError(f"{where}: unknown environment {item!r}")
        found.append(match[0])
    return tuple(found)


def _generator(raw: Mapping[str, Any], where: str) -> Generator:
    formats = [f for f in _FORMATS if f == raw.get("format")]
    if not formats:
        raise InventoryError(f"{where}: format must be one of {', '.join(_FORMATS)}")
    fmt = formats[0]
    source = None
    if fmt == "gateway-clients-json":
        secret, _, key = str(raw.get("from", "")).partition("/")
        if not secret or not key:
            raise InventoryError(f"{where}: from must name <secret>/<key>")
        source = (secret, key)
    generator = Generator(
        format=fmt,
        length=raw.get("length"),
        random_bytes=raw.get("bytes"),
        prefix=str(raw.get("prefix", "")),
        source=source,
        client=raw.get("client"),
        models=tuple(raw.get("models", ())),
    )
    needs = {"hex": "length", "alphanumeric": "length", "base64": "random_bytes"}.get(fmt)
    if needs is not None and not isinstance(getattr(generator, needs), int):
        raise InventoryError(f"{where}: format {fmt} needs an integer {needs}")
    if fmt == "hex" and (generator.length or 0) % 2:
        raise InventoryError(f"{where}: hex length must be even")
    if fmt == "gateway-clients-json" and (not generator.client or not generator.models):
        raise InventoryError(f"{where}: gateway-clients-json needs client and models")
    return generator


def _secret(raw: Mapping[str, Any]) -> SecretSpec:
    name = str(raw["name"])
    namespaces = {
        str(ns): _environments(envs, f"{name} in namespace {ns}")
        for ns, envs in (raw.get("namespaces") or {}).items()
    }
    if not namespaces:
        raise InventoryError(f"{name}: no namespaces")
    keys = tuple(
        SecretKey(
            name=str(key_name),
            generate=_generator(spec["generate"], f"{name}/{key_name}")
            if "generate" in spec
            else None,
            remote_key=spec.get("remoteKey"),
            bootstrap=spec.get("bootstrap"),
        )
        for key_name, spec in (raw.get("keys") or {}).items()
    )
    if not keys:
        raise InventoryError(f"{name}: no keys")
    return SecretSpec(name=name, purpose=str(raw["purpose"]), namespaces=namespaces, keys=keys)


def _check(inventory: Inventory) -> None:
    names = [secret.name for secret in inventory.secrets]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise InventoryError(f"declared twice: {', '.join(duplicates)}")
    remote_owner: dict[str, str] = {}
    for secret in inventory.secrets:
        environments = secret.environments()
        for key in secret.keys:
            where = f"{secret.name}/{key.name}"
            if (key.remote_key is None) == (key.bootstrap is None):
                raise InventoryError(f"{where}: give exactly one of remoteKey and bootstrap")
            if key.bootstrap is not None and "ci" in environments:
                raise InventoryError(f"{where}: a test cluster cannot ask an operator for it")
            if "ci" in environments and key.generate is None and key.bootstrap is None:
                raise InventoryError(f"{where}: test clusters need a generate rule")
            if key.remote_key is not None:
                owner = remote_owner.setdefault(key.remote_key, where)
                if owner != where:
                    raise InventoryError(f"{where}: remoteKey {key.remote_key} is {owner}'s")
            source = key.generate.source if key.generate else None
            if source is not None:
                source_secret = inventory.secret(source[0])
                source_secret.key(source[1])
                if "ci" not in source_secret.environments():
                    raise InventoryError(f"{where}: {source[0]} is not generated for test clusters")


def load_inventory(path: Path = INVENTORY_FILE) -> Inventory:
    data = load_mapping(path)
    doppler = data["doppler"]
    inventory = Inventory(
        store=str(data["store"]),
        doppler_project=str(doppler["project"]),
        doppler_config=str(doppler["config"]),
        secrets=tuple(_secret(raw) for raw in data["secrets"]),
    )
    _check(inventory)
    return inventory
