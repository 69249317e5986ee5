"""Test-cluster secret values: the formats the inventory promises, fresh each run, never shown."""

from __future__ import annotations

import hashlib
import json
import random
import re
import secrets
import string

from platform_deploy.config.inventory import load_inventory
from platform_deploy.engine.generated_secrets import GeneratedSecrets, generate


def _seeded(seed: int) -> GeneratedSecrets:
    source = random.Random(seed)  # noqa: S311  (reproducible test input, not a secret)
    return generate(load_inventory(), source.randbytes)


def test_formats_match_the_inventory() -> None:
    values = _seeded(1)
    assert re.fullmatch(r"[0-9a-f]{64}", values.value("langfuse-encryption", "encryption-key"))
    assert len(__import__("base64").b64decode(values.value("langfuse-salt", "salt"))) == 32
    password = values.value("redis-secrets", "redis-password")
    assert len(password) == 32
    assert set(password) <= set(string.ascii_letters + string.digits)
    assert re.fullmatch(
        r"sk-[A-Za-z0-9]{48}", values.value("litellm-master-key", "LITELLM_MASTER_KEY")
    )
    assert re.fullmatch(
        r"pk-lf-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}",
        values.value("langfuse-credentials", "LANGFUSE_PUBLIC_KEY"),
    )


def test_every_key_of_every_test_cluster_secret_gets_a_value() -> None:
    inventory = load_inventory()
    values = _seeded(2)
    for secret in inventory.in_environment("ci"):
        assert sorted(values.keys(secret.name)) == sorted(key.name for key in secret.keys)
    assert "doppler-token" not in set(values.secrets())


def test_the_clients_file_admits_exactly_the_generated_test_client_key() -> None:
    values = _seeded(3)
    key = values.value("gateway-test-client", "api-key")
    clients = json.loads(values.value("gateway-clients", "clients.json"))["clients"]
    assert [client["key_sha256"] for client in clients] == [
        hashlib.sha256(key.encode()).hexdigest()
    ]
    assert clients[0]["models"] == ["claude-sonnet", "groq-llama"]
    assert key not in values.value("gateway-clients", "clients.json")


def test_runs_get_different_values_and_a_seed_gets_the_same() -> None:
    inventory = load_inventory()
    first = generate(inventory, secrets.token_bytes)
    second = generate(inventory, secrets.token_bytes)
    assert first.value("redis-secrets", "redis-password") != second.value(
        "redis-secrets", "redis-password"
    )
    assert _seeded(4).value("langfuse-salt", "salt") == _seeded(4).value("langfuse-salt", "salt")


def test_values_are_never_shown() -> None:
    values = _seeded(5)
    password = values.value("redis-secrets", "redis-password")
    for shown in (repr(values), str(values), f"{values}"):
        assert password not in shown
        assert "redacted" in shown
