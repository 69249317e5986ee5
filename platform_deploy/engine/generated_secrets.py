"""A test cluster's secret values, generated from the inventory's rules.

`generate` is a pure function of the inventory and a source of random bytes: the deploy
engine passes `secrets.token_bytes`, tests pass a seeded source. The values exist only in
memory (and in the cluster): nothing here writes or prints them, and their repr is redacted.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from gateway.clients import client_for_key, clients_file

from platform_deploy.config.inventory import Generator, Inventory, SecretSpec

RandomBytes = Callable[[int], bytes]
_ALPHANUMERIC = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


@dataclass(frozen=True)
class GeneratedSecrets:
    """secret name -> key -> value. Never shown: repr and str name only the secrets."""

    _values: Mapping[str, Mapping[str, str]] = field(repr=False)

    def __repr__(self) -> str:
        return f"GeneratedSecrets({len(self._values)} secrets, values redacted)"

    __str__ = __repr__

    def value(self, secret: str, key: str) -> str:
        return self._values[secret][key]

    def secrets(self) -> Iterator[str]:
        return iter(sorted(self._values))

    def keys(self, secret: str) -> Iterator[str]:
        return iter(sorted(self._values[secret]))


def _alphanumeric(length: int, random_bytes: RandomBytes) -> str:
    # Rejection sampling keeps every character equally likely (256 is not a multiple of 62).
    limit = 256 - 256 % len(_ALPHANUMERIC)
    chars: list[str] = []
    while len(chars) < length:
        for byte in random_bytes(length):
            if byte < limit and len(chars) < length:
                chars.append(_ALPHANUMERIC[byte % len(_ALPHANUMERIC)])
    return "".join(chars)


def _plain(generator: Generator, random_bytes: RandomBytes) -> str:
    if generator.format == "hex":
        value = random_bytes((generator.length or 0) // 2).hex()
    elif generator.format == "base64":
        value = base64.b64encode(random_bytes(generator.random_bytes or 0)).decode("ascii")
    elif generator.format == "alphanumeric":
        value = _alphanumeric(generator.length or 0, random_bytes)
    elif generator.format == "uuid4":
        value = str(uuid.UUID(bytes=random_bytes(16), version=4))
    else:
        raise ValueError(f"{generator.format} is derived from another key, not generated")
    return generator.prefix + value


def _clients_file(generator: Generator, client_key: str) -> str:
    """The gateway's clients file admitting one client (the file holds only the key's hash),
    written by the gateway's own model of it."""
    return clients_file([client_for_key(str(generator.client), client_key, generator.models)])


def _rules(secret: SecretSpec) -> list[tuple[str, Generator]]:
    rules = []
    for key in secret.keys:
        if key.generate is None:
            raise ValueError(f"{secret.name}/{key.name} has no generate rule")
        rules.append((key.name, key.generate))
    return rules


def generate(inventory: Inventory, random_bytes: RandomBytes) -> GeneratedSecrets:
    """Values for every key of every secret a test cluster uses."""
    values: dict[str, dict[str, str]] = {}
    # Derived keys (a clients file admitting a generated key) wait for their source.
    derived: list[tuple[str, str, Generator, tuple[str, str]]] = []
    for secret in inventory.in_environment("ci"):
        values[secret.name] = {}
        for key, rule in _rules(secret):
            if rule.source is not None:
                derived.append((secret.name, key, rule, rule.source))
            else:
                values[secret.name][key] = _plain(rule, random_bytes)
    for secret_name, key, rule, (source_secret, source_key) in derived:
        values[secret_name][key] = _clients_file(rule, values[source_secret][source_key])
    return GeneratedSecrets(values)


def derived_value(generator: Generator, source_value: str) -> str:
    """A derived key's value (the clients file) from its source's value, which may be one
    already in the cluster: a rerun keeps the key and the file that admits it consistent."""
    if generator.source is None:
        raise ValueError(f"{generator.format} is generated, not derived")
    return _clients_file(generator, source_value)
