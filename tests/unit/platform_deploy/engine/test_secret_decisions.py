"""A test cluster's secrets: created only where absent, never rotated, kept consistent."""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from pathlib import Path

import pytest

from platform_deploy.config.inventory import Inventory, load_inventory
from platform_deploy.engine.generated_secrets import GeneratedSecrets, generate
from platform_deploy.engine.secret_decisions import decide_generated, decode_secret

RECORDED = Path(__file__).parent / "recorded"


@pytest.fixture(scope="module")
def inventory() -> Inventory:
    return load_inventory()


def _fresh(inventory: Inventory, seed: int) -> GeneratedSecrets:
    rng = random.Random(seed)  # noqa: S311  (reproducible test input, not a secret)
    return generate(inventory, lambda n: bytes(rng.getrandbits(8) for _ in range(n)))


def _as_observed(
    inventory: Inventory, values: GeneratedSecrets
) -> dict[tuple[str, str], Mapping[str, str] | None]:
    return {
        (ns, spec.name): {key.name: values.value(spec.name, key.name) for key in spec.keys}
        for spec in inventory.in_environment("ci")
        for ns in spec.namespaces_in("ci")
    }


def test_empty_cluster_creates_everything(inventory: Inventory) -> None:
    decision = decide_generated(inventory, {}, _fresh(inventory, 1))
    assert not decision.keep
    assert not decision.stop
    assert ("langfuse", "redis-secrets") in decision.create
    assert ("default", "redis-secrets") in decision.create
    assert "sk-" not in repr(decision)


def test_rerun_keeps_everything_and_generates_nothing(inventory: Inventory) -> None:
    first = _fresh(inventory, 1)
    decision = decide_generated(inventory, _as_observed(inventory, first), _fresh(inventory, 2))
    assert decision.create == ()
    assert decision.stop == ()
    assert dict(decision.values) == {}


def test_a_missing_copy_gets_the_existing_value_not_a_new_one(inventory: Inventory) -> None:
    first = _fresh(inventory, 1)
    observed = _as_observed(inventory, first)
    observed[("langfuse", "redis-secrets")] = None
    decision = decide_generated(inventory, observed, _fresh(inventory, 2))
    assert decision.create == (("langfuse", "redis-secrets"),)
    assert decision.values["redis-secrets"]["redis-password"] == first.value(
        "redis-secrets", "redis-password"
    )


def test_clients_file_admits_the_key_already_in_the_cluster(inventory: Inventory) -> None:
    first = _fresh(inventory, 1)
    observed = _as_observed(inventory, first)
    observed[("default", "gateway-clients")] = None
    decision = decide_generated(inventory, observed, _fresh(inventory, 2))
    clients = json.loads(decision.values["gateway-clients"]["clients.json"])
    assert clients == json.loads(first.value("gateway-clients", "clients.json"))


def test_inconsistent_state_stops_rather_than_overwrites(inventory: Inventory) -> None:
    first = _fresh(inventory, 1)
    observed = _as_observed(inventory, first)
    observed[("default", "gateway-test-client")] = None
    observed[("langfuse", "langfuse-salt")] = {"unexpected": "x"}
    decision = decide_generated(inventory, observed, _fresh(inventory, 2))
    assert any("gateway-test-client" in reason for reason in decision.stop)
    assert any("langfuse-salt" in reason and "salt" in reason for reason in decision.stop)


def test_created_manifest_carries_base64_data_and_our_label(inventory: Inventory) -> None:
    decision = decide_generated(inventory, {}, _fresh(inventory, 1))
    manifest = decision.manifest(("langfuse", "langfuse-salt"))
    assert manifest["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "platform-deploy"
    assert decode_secret(manifest) == dict(decision.values["langfuse-salt"])


def test_decode_recorded_secret() -> None:
    items = json.loads((RECORDED / "langfuse_namespace_secrets.json").read_text())["items"]
    assert decode_secret(items[1]) == {"admin-password": "chLiveAdminPassw0rd"}


def test_binary_secret_data_decodes_without_error() -> None:
    import base64

    blob = base64.b64encode(b"\x1f\x8b\x08\x00binary").decode()
    decoded = decode_secret({"data": {"release": blob}})
    assert decoded["release"].encode("utf-8", "surrogateescape") == b"\x1f\x8b\x08\x00binary"


def test_binary_values_can_be_registered_for_redaction() -> None:
    import base64

    from platform_deploy.engine.redaction import Redactor

    blob = base64.b64encode(b"\x1f\x8b\x08\x00binary-release").decode()
    redactor = Redactor()
    redactor.register(decode_secret({"data": {"release": blob}})["release"])
    assert blob not in redactor.redact(f"data: {blob}")
