"""Clients, their key hashes and the file they come from."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from gateway.clients import KEY_PREFIX, ClientRegistry, ClientsFileError, hash_key, mint_client


def write(path: Path, clients: list[dict[str, object]]) -> Path:
    path.write_text(json.dumps({"clients": clients}))
    return path


def test_minted_keys_authenticate_only_their_client(tmp_path: Path) -> None:
    key_a, a = mint_client("search", ("claude-sonnet",), requests_per_minute=60)
    key_b, b = mint_client("billing", ("groq-llama",))
    assert key_a.startswith(KEY_PREFIX)
    assert len(key_a) > 40
    assert key_a != key_b
    registry = ClientRegistry.load(write(tmp_path / "c.json", [a.model_dump(), b.model_dump()]))
    assert registry.authenticate(key_a) == a
    assert registry.authenticate(key_b) == b
    assert registry.authenticate(key_a + "x") is None
    assert registry.authenticate("") is None
    assert a.key_sha256 == hash_key(key_a)
    assert key_a not in json.dumps(a.model_dump())


@pytest.mark.parametrize(
    ("clients", "problem"),
    [
        ([{"name": "a", "key_sha256": "0" * 64}], "models"),
        ([{"name": "a", "key_sha256": "XYZ", "models": ["m"]}], "key_sha256"),
        ([{"name": "A B", "key_sha256": "0" * 64, "models": ["m"]}], "name"),
        ([{"name": "a", "key_sha256": "0" * 64, "models": ["m"], "extra": 1}], "extra"),
        ([{"name": "a", "key_sha256": "0" * 64, "models": ["m"]},
          {"name": "a", "key_sha256": "1" * 64, "models": ["m"]}], "duplicate name"),
        ([{"name": "a", "key_sha256": "0" * 64, "models": ["m"]},
          {"name": "b", "key_sha256": "0" * 64, "models": ["m"]}], "duplicate key_sha256"),
    ],
)  # fmt: skip
def test_an_invalid_file_is_refused_naming_the_problem(
    tmp_path: Path, clients: list[dict[str, object]], problem: str
) -> None:
    with pytest.raises(ClientsFileError, match=problem) as raised:
        ClientRegistry.load(write(tmp_path / "c.json", clients))
    assert "0" * 64 not in str(raised.value)


def test_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ClientsFileError, match="cannot read clients file"):
        ClientRegistry.load(tmp_path / "absent.json")
