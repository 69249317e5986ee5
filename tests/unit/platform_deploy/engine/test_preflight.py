"""The preflight's findings over recorded answers of a running production."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from platform_deploy.config.deploy_settings import AdoptionSettings, DeploySettings
from platform_deploy.config.environments import EnvironmentName
from platform_deploy.engine.preflight import (
    Observations,
    live_value,
    parse_config_get,
    preflight,
    stops,
)
from platform_deploy.helm.releases import parse_list

RECORDED = Path(__file__).parent / "recorded"
RUNNING_SALT = "c2FsdC1vZi10aGUtcnVubmluZy1sYW5nZnVzZQ=="
RUNNING_KEY = "0f" * 32
MANAGED = {"langfuse-postgresql", "langfuse-clickhouse", "langfuse-salt", "langfuse-encryption"}


def _load(name: str) -> Any:
    return json.loads((RECORDED / name).read_text())


@pytest.fixture
def adoption(settings: dict[EnvironmentName, DeploySettings]) -> AdoptionSettings:
    return settings["prod"].adoption


def _observed(**changes: Any) -> Observations:
    base: dict[str, Any] = {
        "release": parse_list((RECORDED / "helm_list_langfuse_deployed.json").read_text())[0],
        "release_values": _load("helm_get_values_langfuse.json"),
        "secrets": _load("langfuse_namespace_secrets.json")["items"],
        "store_values": {
            "langfuse-salt": {"salt": RUNNING_SALT},
            "langfuse-encryption": {"encryption-key": RUNNING_KEY},
        },
        "redis_policy": "noeviction",
        "store_synced": True,
    }
    base.update(changes)
    return Observations(**base)


def _messages(findings: list[Any], level: str) -> list[str]:
    return [f"{f.subject}: {f.message}" for f in findings if f.level == level]


def test_running_values_are_resolved_through_secret_refs() -> None:
    values, secrets = (
        _load("helm_get_values_langfuse.json"),
        _load("langfuse_namespace_secrets.json"),
    )
    assert live_value(values, "langfuse.salt", secrets["items"]) == RUNNING_SALT
    assert live_value(values, "langfuse.encryptionKey", secrets["items"]) == RUNNING_KEY
    assert live_value(values, "langfuse.nextauth.secret", secrets["items"]) is not None
    assert live_value(values, "langfuse.missing", secrets["items"]) is None
    assert live_value({"langfuse": {"salt": "plain"}}, "langfuse.salt", []) == "plain"


def test_chart_owned_secret_without_keep_stops(adoption: AdoptionSettings) -> None:
    findings = preflight(_observed(), adoption, MANAGED, "helm rollback langfuse 7 -n langfuse")
    stop = _messages(stops(findings), "stop")
    assert len(stop) == 1
    assert "Secret langfuse-postgresql" in stop[0]
    assert "helm.sh/resource-policy=keep" in stop[0]
    # The kept one passes; Helm's own release Secret and unmanaged Secrets are not findings.
    assert any("langfuse-clickhouse" in m for m in _messages(findings, "ok"))
    assert not any("sh.helm.release" in m for m in _messages(findings, "stop"))


def test_rollback_and_backups_are_part_of_the_plan(adoption: AdoptionSettings) -> None:
    findings = preflight(_observed(), adoption, set(), "helm rollback langfuse 7 -n langfuse")
    info = _messages(findings, "info")
    assert "rollback: helm rollback langfuse 7 -n langfuse" in info
    assert sum(m.startswith("backup first") for m in info) == 2
    assert any("revision 7" in m for m in info)
    assert stops(findings) == []


def test_salt_and_key_must_reach_the_store_unchanged(adoption: AdoptionSettings) -> None:
    rotated = _observed(store_values={"langfuse-salt": {"salt": "a-new-salt-value"}})
    messages = _messages(preflight(rotated, adoption, set(), None), "stop")
    assert any(m.startswith("SALT carry-over") and "differs" in m for m in messages)
    assert any(m.startswith("ENCRYPTION_KEY carry-over") and "not delivered" in m for m in messages)
    # Neither value is ever named in a finding.
    assert not any(RUNNING_SALT in m or "a-new-salt-value" in m for m in messages)


def test_before_sync_the_comparison_is_deferred_not_skipped(adoption: AdoptionSettings) -> None:
    findings = preflight(_observed(store_values={}, store_synced=False), adoption, set(), None)
    assert stops(findings) == []
    assert sum("once" in m for m in _messages(findings, "info")) == 2


def test_redis_must_not_evict(adoption: AdoptionSettings) -> None:
    lru = preflight(_observed(redis_policy="allkeys-lru"), adoption, set(), None)
    assert any("allkeys-lru" in m for m in _messages(lru, "stop"))
    unreadable = preflight(
        _observed(redis_policy=None, redis_error="ERR unknown command 'CONFIG'"),
        adoption,
        set(),
        None,
    )
    assert any("could not read" in m for m in _messages(unreadable, "stop"))
    assert parse_config_get("maxmemory-policy\nnoeviction\n") == "noeviction"
    with pytest.raises(ValueError, match="unexpected"):
        parse_config_get("NOAUTH Authentication required.")


def test_fresh_cluster_has_nothing_to_adopt(
    settings: dict[EnvironmentName, DeploySettings],
) -> None:
    empty = Observations(None, None, [], {}, None)
    assert stops(preflight(empty, settings["ci"].adoption, MANAGED, None)) == []
    prod = preflight(empty, settings["prod"].adoption, MANAGED, None)
    assert stops(prod) == []
    assert any("no langfuse release" in m for m in _messages(prod, "info"))


def test_redis_check_waits_for_its_password(adoption: AdoptionSettings) -> None:
    pending = _observed(redis_policy=None, redis_pending="read once synced")
    findings = preflight(pending, adoption, set(), None)
    assert stops(findings) == []
    assert "shared Redis: read once synced" in _messages(findings, "info")


def test_a_secret_external_secrets_would_overwrite_must_match_the_store() -> None:
    from platform_deploy.engine.preflight import managed_by_external_secrets, overwrite_findings

    items = _load("langfuse_namespace_secrets.json")["items"]
    assert not any(managed_by_external_secrets(item) for item in items)
    running = {("langfuse", "langfuse-clickhouse"): {"admin-password": "chLiveAdminPassw0rd"}}
    same = overwrite_findings(
        running, {("langfuse", "langfuse-clickhouse"): running[("langfuse", "langfuse-clickhouse")]}
    )
    assert [f.level for f in same] == ["ok"]
    other = overwrite_findings(
        running, {("langfuse", "langfuse-clickhouse"): {"admin-password": "new"}}
    )
    assert other[0].level == "stop"
    assert "admin-password" in other[0].message
    assert "chLiveAdminPassw0rd" not in other[0].message
    assert overwrite_findings(running, {})[0].level == "stop"


def test_a_secret_external_secrets_writes_is_recognised_without_an_owner() -> None:
    from platform_deploy.engine.preflight import managed_by_external_secrets

    # creationPolicy Orphan: External Secrets' label, no ownerReference.
    orphan = {"metadata": {"labels": {"reconcile.external-secrets.io/managed": "true"}}}
    assert managed_by_external_secrets(orphan)
    owned = {
        "metadata": {
            "labels": {"reconcile.external-secrets.io/managed": "true"},
            "ownerReferences": [{"kind": "ExternalSecret", "name": "x"}],
        }
    }
    assert managed_by_external_secrets(owned)
    assert not managed_by_external_secrets({"metadata": {"labels": {"app": "langfuse"}}})
