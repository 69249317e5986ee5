"""Server-side diff and readiness over API JSON shapes."""

from __future__ import annotations

from typing import Any

from platform_deploy.engine.object_diff import changed_fields, classify, ready_condition

LIVE: dict[str, Any] = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "NetworkPolicy",
    "metadata": {
        "name": "redis",
        "namespace": "default",
        "uid": "5b4f0a52-8e93-4a52-9a82-6d2d8e7f3f54",
        "resourceVersion": "1201",
        "generation": 1,
        "creationTimestamp": "2026-11-28T12:00:00Z",
        "managedFields": [{"manager": "platform-deploy", "operation": "Apply"}],
        "labels": {"app.kubernetes.io/part-of": "ai-platform"},
    },
    "spec": {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "redis"}}},
}


def test_a_rerun_changes_nothing_despite_server_metadata() -> None:
    applied = {**LIVE, "metadata": {**LIVE["metadata"], "resourceVersion": "1202"}}
    assert classify(LIVE, applied) == ("unchanged", "")


def test_spec_and_label_changes_are_named() -> None:
    applied = {
        **LIVE,
        "metadata": {**LIVE["metadata"], "labels": {}},
        "spec": {"podSelector": {}},
    }
    assert changed_fields(LIVE, applied) == ["metadata.labels", "spec"]
    assert classify(None, applied) == ("create", "absent")


def test_external_secret_ready() -> None:
    synced = {
        "status": {
            "conditions": [
                {"type": "Ready", "status": "True", "reason": "SecretSynced"},
            ]
        }
    }
    failing = {
        "status": {
            "conditions": [
                {"type": "Ready", "status": "False", "reason": "SecretSyncedError"},
            ]
        }
    }
    assert ready_condition(synced) == (True, "SecretSynced")
    assert ready_condition(failing) == (False, "SecretSyncedError")
    assert ready_condition({}) == (False, "no Ready condition yet")
