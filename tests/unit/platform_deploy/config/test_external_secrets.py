"""The committed ExternalSecrets are the inventory's, and both environments read one store."""

from __future__ import annotations

from platform_deploy.config.external_secrets import GENERATED_DIR, external_secrets, generated_files
from platform_deploy.config.files import load_manifests
from platform_deploy.config.inventory import load_inventory


def test_both_environments_apply_the_same_external_secret_for_a_shared_secret() -> None:
    inventory = load_inventory()
    by_env = {
        env: {
            (m["metadata"]["namespace"], m["metadata"]["name"]): m
            for m in external_secrets(inventory, env)
        }
        for env in ("ci", "prod")
    }
    shared = by_env["ci"].keys() & by_env["prod"].keys()
    assert ("langfuse", "langfuse-salt") in shared
    for key in shared:
        assert by_env["ci"][key] == by_env["prod"][key]
    assert ("langfuse", "langfuse-credentials") in by_env["ci"].keys() - by_env["prod"].keys()


def test_every_external_secret_reads_the_platform_store_and_keeps_its_secret() -> None:
    inventory = load_inventory()
    for manifest in external_secrets(inventory, "prod"):
        spec = manifest["spec"]
        assert spec["secretStoreRef"] == {"kind": "ClusterSecretStore", "name": "platform-secrets"}
        assert spec["target"]["deletionPolicy"] == "Retain"
        assert spec["target"]["name"] == manifest["metadata"]["name"]


def test_the_doppler_token_is_no_external_secret() -> None:
    names = {m["metadata"]["name"] for m in external_secrets(load_inventory(), "prod")}
    assert "doppler-token" not in names
    assert len(generated_files(load_inventory())) == 3


def test_deleting_an_external_secret_leaves_its_secret_under_the_running_pods() -> None:
    """creationPolicy Orphan: External Secrets writes the Secret without an ownerReference,
    so garbage collection does not delete it with its ExternalSecret (Owner would).
    deletionPolicy Retain: a key deleted in the store leaves the Secret as it was."""
    committed = load_manifests(sorted(GENERATED_DIR.glob("external-secrets.*.yaml")))
    assert {m["metadata"]["namespace"] for m in committed} >= {"default", "langfuse"}
    for manifest in committed:
        assert manifest["kind"] == "ExternalSecret"
        target = manifest["spec"]["target"]
        assert (target["creationPolicy"], target["deletionPolicy"]) == ("Orphan", "Retain"), (
            manifest["metadata"]
        )
