"""ExternalSecrets and ClusterSecretStores (external-secrets.io/v1) from the inventory.

Both environments apply the same ExternalSecrets; they read the ClusterSecretStore
"platform-secrets", which is Doppler in production and, in a test cluster, External
Secrets' fake provider serving the values generated for that run. The difference between
environments is data: which store, and what it holds.
"""

from __future__ import annotations

from pathlib import Path

from platform_deploy.config.environments import ENVIRONMENT_NAMES, EnvironmentName
from platform_deploy.config.files import (
    DEPLOY_DIR,
    MANAGED_BY,
    PART_OF,
    Manifest,
    dump_manifests,
)
from platform_deploy.config.inventory import Inventory, SecretSpec

API_VERSION = "external-secrets.io/v1"
GENERATED_DIR = DEPLOY_DIR / "secrets" / "generated"
# The namespace of the External Secrets Operator (its Helm release), where the Doppler
# token lives.
OPERATOR_NAMESPACE = "external-secrets"
REFRESH_INTERVAL = "1h"
# The operator writes the target Secret but sets no ownerReference on it, so deleting an
# ExternalSecret (a manifest removed, the operator or its CRDs uninstalled) never makes the
# garbage collector take a credential from running pods; with "Owner" it would. The Secret
# still follows the store at every refresh. What Orphan gives up (External Secrets 2.9.0,
# docs/guides/ownership-deletion-policy.md): a Secret deleted or edited by hand is restored
# only at the next refresh (REFRESH_INTERVAL), not at once; `kubectl annotate externalsecret
# <name> force-sync=$(date +%s) --overwrite` restores it now.
CREATION_POLICY = "Orphan"
# Concerns the provider's side only: a key deleted from Doppler leaves the Secret as it was
# (and the ExternalSecret reports SecretSyncedError) instead of emptying it.
DELETION_POLICY = "Retain"
_HEADER = (
    "# Generated from deploy/secrets/inventory.yaml by"
    " `invoke generate`.\n"
    "# Do not edit: change the inventory and regenerate.\n"
)
_LABELS = {**PART_OF, **MANAGED_BY}


def external_secret(inventory: Inventory, secret: SecretSpec, namespace: str) -> Manifest:
    return {
        "apiVersion": API_VERSION,
        "kind": "ExternalSecret",
        "metadata": {"name": secret.name, "namespace": namespace, "labels": dict(_LABELS)},
        "spec": {
            "refreshInterval": REFRESH_INTERVAL,
            "secretStoreRef": {"kind": "ClusterSecretStore", "name": inventory.store},
            "target": {
                "name": secret.name,
                "creationPolicy": CREATION_POLICY,
                "deletionPolicy": DELETION_POLICY,
            },
            "data": [
                {"secretKey": key.name, "remoteRef": {"key": key.remote_key}} for key in secret.keys
            ],
        },
    }


def external_secrets(inventory: Inventory, environment: EnvironmentName) -> list[Manifest]:
    """Every ExternalSecret the environment applies (bootstrapped secrets come from no store)."""
    return [
        external_secret(inventory, secret, namespace)
        for secret in inventory.in_environment(environment)
        if not secret.bootstrapped
        for namespace in secret.namespaces_in(environment)
    ]


def doppler_store(inventory: Inventory) -> Manifest:
    token = inventory.secret("doppler-token")
    return {
        "apiVersion": API_VERSION,
        "kind": "ClusterSecretStore",
        "metadata": {"name": inventory.store, "labels": dict(_LABELS)},
        "spec": {
            "provider": {
                "doppler": {
                    "project": inventory.doppler_project,
                    "config": inventory.doppler_config,
                    "auth": {
                        "secretRef": {
                            "dopplerToken": {
                                "name": token.name,
                                "key": token.keys[0].name,
                                "namespace": OPERATOR_NAMESPACE,
                            }
                        }
                    },
                }
            }
        },
    }


def generated_files(inventory: Inventory) -> dict[Path, str]:
    """The committed manifests: ExternalSecrets per environment, and production's store."""
    files = {
        GENERATED_DIR / f"external-secrets.{env}.yaml": _HEADER
        + dump_manifests(external_secrets(inventory, env))
        for env in ENVIRONMENT_NAMES
    }
    files[GENERATED_DIR / "cluster-secret-store.prod.yaml"] = _HEADER + dump_manifests(
        [doppler_store(inventory)]
    )
    return files
