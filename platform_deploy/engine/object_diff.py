"""What a server-side apply would change, and whether an object reports itself ready:
pure functions over the API's JSON answers (the live object, the dry run's result)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

Change = Literal["create", "update", "unchanged"]
# Written by the API server on every apply or by controllers: never a difference of ours.
_SERVER_METADATA = (
    "managedFields",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "uid",
    "selfLink",
)


def _comparable(obj: Mapping[str, Any]) -> dict[str, Any]:
    metadata = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in _SERVER_METADATA}
    return {
        **{k: v for k, v in obj.items() if k not in ("metadata", "status")},
        "metadata": metadata,
    }


def changed_fields(live: Mapping[str, Any], applied: Mapping[str, Any]) -> list[str]:
    """Top-level paths (spec, metadata.labels, ...) where the dry run differs from live."""
    before, after = _comparable(live), _comparable(applied)
    fields = []
    for key in sorted(set(before) | set(after)):
        if key == "metadata":
            for sub in sorted(set(before["metadata"]) | set(after["metadata"])):
                if before["metadata"].get(sub) != after["metadata"].get(sub):
                    fields.append(f"metadata.{sub}")
        elif before.get(key) != after.get(key):
            fields.append(key)
    return fields


def classify(live: Mapping[str, Any] | None, applied: Mapping[str, Any]) -> tuple[Change, str]:
    if live is None:
        return "create", "absent"
    fields = changed_fields(live, applied)
    if fields:
        return "update", ", ".join(fields)
    return "unchanged", ""


def ready_condition(obj: Mapping[str, Any]) -> tuple[bool, str]:
    """An ExternalSecret's (or any object's) Ready condition: status "True" and its reason."""
    for condition in (obj.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            reason = str(condition.get("reason") or condition.get("message") or "")
            return condition.get("status") == "True", reason
    return False, "no Ready condition yet"
