"""Helm values, as Helm treats them: how values files merge, how they coalesce with a chart's
defaults, and reading a dotted path. The one home of each for the engine and the checks."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from platform_deploy.config.files import parse_manifests

Values = dict[str, Any]


def _merge(base: Mapping[str, Any], override: Mapping[str, Any], null_removes: bool) -> Values:
    merged: Values = copy.deepcopy(dict(base))
    for key, value in override.items():
        if value is None and null_removes:
            merged.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(merged[key], value, null_removes)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def coalesce(base: Mapping[str, Any], override: Mapping[str, Any]) -> Values:
    """Values over a chart's defaults, as Helm renders them: maps merge, anything else
    replaces, and a null removes the key."""
    return _merge(base, override, null_removes=True)


def stored_values(files: Sequence[Path]) -> Values:
    """The user-supplied values Helm 4 stores for these files (`helm get values -o json`):
    a later file's map merges into an earlier one's, anything else replaces, and a null is
    kept as a null. Helm's loader.MergeMaps keeps nulls in the release's config; only the
    coalescing with the chart's defaults removes their keys. Dropping them here made every
    rerun see "values differ" (ci's `postgresql.port: null`). In the JSON shape Helm answers
    with."""
    merged: Values = {}
    for path in files:
        for document in parse_manifests(path.read_text(encoding="utf-8"), str(path)):
            merged = _merge(merged, document, null_removes=False)
    stored: Values = json.loads(json.dumps(merged))
    return stored


def value_at(values: Mapping[str, Any] | None, path: str | Sequence[str]) -> Any:
    """The value at a path (`langfuse.salt` or ("langfuse", "salt")); None where the path
    leaves the tree or a key is absent."""
    node: Any = values or {}
    for key in path.split(".") if isinstance(path, str) else path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node
