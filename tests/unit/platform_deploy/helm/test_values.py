"""Helm's values: the merges (stored and coalesced) and the dotted lookup, one home each."""

from __future__ import annotations

from pathlib import Path

from platform_deploy.helm.values import coalesce, stored_values, value_at


def test_values_merge_like_helm(tmp_path: Path) -> None:
    # As Helm stores them (tests/manifests/test_helm_stored_values.py checks it on the real
    # binary): a null stays a null, at the top and inside a merged map.
    base = tmp_path / "values.yaml"
    base.write_text("a: {b: 1, c: 2, d: 4}\nlist: [1, 2]\ngone: 1\nscalar: 1\n")
    overlay = tmp_path / "ci.yaml"
    overlay.write_text("a: {c: 3, d: null}\nlist: [9]\ngone: null\nscalar: {now: map}\n")
    assert stored_values([base, overlay]) == {
        "a": {"b": 1, "c": 3, "d": None},
        "list": [9],
        "gone": None,
        "scalar": {"now": "map"},
    }


def test_coalesce_replaces_lists_and_null_removes() -> None:
    merged = coalesce({"a": {"b": 1, "c": [1]}, "d": 1}, {"a": {"c": [2]}, "d": None})
    assert merged == {"a": {"b": 1, "c": [2]}}


def test_a_path_is_read_dotted_or_as_parts_and_is_none_where_it_leaves_the_tree() -> None:
    values = {"langfuse": {"salt": {"secretKeyRef": {"name": "langfuse-salt"}}}, "n": 1}
    assert value_at(values, "langfuse.salt.secretKeyRef.name") == "langfuse-salt"
    assert value_at(values, ("langfuse", "salt", "secretKeyRef", "name")) == "langfuse-salt"
    assert value_at(values, "langfuse.missing") is None
    assert value_at(values, "n.deeper") is None  # through a scalar
    assert value_at(None, "anything") is None
