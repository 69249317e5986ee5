"""The secrets inventory: complete, consistent, and what the documentation lists."""

from __future__ import annotations

from pathlib import Path

import pytest

from platform_deploy.config.inventory import InventoryError, load_inventory

# The documentation's secrets table: name -> keys.
DOCUMENTED = {
    "langfuse-salt": {"salt"},
    "langfuse-encryption": {"encryption-key"},
    "langfuse-nextauth": {"nextauth-secret"},
    "langfuse-postgresql": {"postgres-password"},
    "redis-secrets": {"redis-password"},
    "langfuse-clickhouse": {"admin-password"},
    "langfuse-s3": {"root-user", "root-password"},
    "langfuse-credentials": {"LANGFUSE_PUBLIC_KEY", "LANGFUSE_SECRET_KEY"},
}


def test_every_documented_secret_is_declared_with_its_keys() -> None:
    inventory = load_inventory()
    for name, keys in DOCUMENTED.items():
        assert {key.name for key in inventory.secret(name).keys} == keys


def test_everything_secret_beyond_the_documented_eight_is_declared() -> None:
    names = {secret.name for secret in load_inventory().secrets}
    assert names - DOCUMENTED.keys() == {
        "provider-api-keys",
        "litellm-master-key",
        "gateway-clients",
        "gateway-test-client",
        "doppler-token",
    }


def test_secrets_needed_in_two_namespaces() -> None:
    inventory = load_inventory()
    assert inventory.secret("redis-secrets").namespaces_in("prod") == ("default", "langfuse")
    # Langfuse reads the key pair only for headless initialisation, which test clusters use.
    assert inventory.secret("langfuse-credentials").namespaces_in("ci") == ("default", "langfuse")
    assert inventory.secret("langfuse-credentials").namespaces_in("prod") == ("default",)


def test_production_takes_every_key_from_doppler_or_the_operator() -> None:
    for secret in load_inventory().in_environment("prod"):
        for key in secret.keys:
            assert key.remote_key or key.bootstrap, f"{secret.name}/{key.name}"


def test_the_doppler_token_is_bootstrapped_and_production_only() -> None:
    token = load_inventory().secret("doppler-token")
    assert token.bootstrapped
    assert token.environments() == {"prod"}


def _write(tmp_path: Path, secrets: str) -> Path:
    path = tmp_path / "inventory.yaml"
    path.write_text(
        "store: s\ndoppler: {project: p, config: c}\nsecrets:\n" + secrets, encoding="utf-8"
    )
    return path


def test_a_test_cluster_secret_without_a_generate_rule_is_rejected(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "  - {name: a, purpose: x, namespaces: {default: [ci]}, keys: {k: {remoteKey: A}}}\n",
    )
    with pytest.raises(InventoryError, match="a/k: test clusters need a generate rule"):
        load_inventory(path)


def test_two_keys_with_one_remote_key_are_rejected(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "  - {name: a, purpose: x, namespaces: {default: [prod]}, keys: {k: {remoteKey: A}}}\n"
        "  - {name: b, purpose: x, namespaces: {default: [prod]}, keys: {k: {remoteKey: A}}}\n",
    )
    with pytest.raises(InventoryError, match="remoteKey A is a/k's"):
        load_inventory(path)


def test_an_odd_hex_length_is_rejected(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "  - {name: a, purpose: x, namespaces: {default: [ci]},"
        " keys: {k: {remoteKey: A, generate: {format: hex, length: 63}}}}\n",
    )
    with pytest.raises(InventoryError, match="hex length must be even"):
        load_inventory(path)
