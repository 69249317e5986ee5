"""`invoke mint-client-key` (gateway.mint): the key to a 0600 file, the entry into the local
stack's clients file, which it adds to and never rewrites without the clients it had."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from gateway.clients import ClientRegistry
from gateway.mint import main


def mint(tmp_path: Path, name: str, *extra: str) -> int:
    return main(
        [
            "--name", name, "--models", "claude-sonnet", *extra,
            "--key-file", str(tmp_path / f"{name}.key"),
            "--clients-file", str(tmp_path / "clients.json"),
        ]
    )  # fmt: skip


def test_each_minted_client_is_added_to_the_local_clients_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert mint(tmp_path, "demo-limited", "--rpm", "3") == 0
    assert mint(tmp_path, "demo-tokens", "--tpm", "100") == 0
    clients_file = tmp_path / "clients.json"
    registry = ClientRegistry.load(clients_file)
    assert [(c.name, c.requests_per_minute, c.tokens_per_minute) for c in registry.clients] == [
        ("demo-limited", 3, None),
        ("demo-tokens", None, 100),
    ]
    for name in ("demo-limited", "demo-tokens"):
        key_file = tmp_path / f"{name}.key"
        client = registry.authenticate(key_file.read_text().strip())
        assert client is not None
        assert client.name == name
        assert key_file.stat().st_mode & 0o777 == 0o600
    assert clients_file.stat().st_mode & 0o777 == 0o600

    out = capsys.readouterr().out
    assert f"entry added to {clients_file}" in out
    for name in ("demo-limited", "demo-tokens"):
        assert (tmp_path / f"{name}.key").read_text().strip() not in out
    printed = json.loads(out[out.rindex("\n{") :])  # the last entry, as printed
    assert printed["name"] == "demo-tokens"
    assert "requests_per_minute" not in printed  # unset limits are left out, as in the file


def test_a_name_already_in_the_file_is_refused_and_nothing_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert mint(tmp_path, "demo") == 0
    before = (tmp_path / "clients.json").read_text()
    (tmp_path / "demo.key").rename(tmp_path / "first.key")
    assert mint(tmp_path, "demo") == 2
    assert "already has a client named demo" in capsys.readouterr().err
    assert not (tmp_path / "demo.key").exists()
    assert (tmp_path / "clients.json").read_text() == before


def test_an_existing_key_file_is_never_overwritten(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "demo.key").write_text("someone's key\n")
    assert mint(tmp_path, "demo") == 2
    assert "exists; not overwriting a key" in capsys.readouterr().err
    assert (tmp_path / "demo.key").read_text() == "someone's key\n"
    assert not (tmp_path / "clients.json").exists()


def test_an_invalid_clients_file_is_named_and_left_as_it_was(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "clients.json").write_text("not json")
    assert mint(tmp_path, "demo") == 2
    assert "invalid clients file" in capsys.readouterr().err
    assert (tmp_path / "clients.json").read_text() == "not json"
    assert not (tmp_path / "demo.key").exists()


def test_a_client_minted_to_refuse_unsent_fields_is_served_so(tmp_path: Path) -> None:
    assert mint(tmp_path, "strict", "--reject-unsent-fields") == 0
    assert mint(tmp_path, "lenient") == 0
    registry = ClientRegistry.load(tmp_path / "clients.json")
    assert {c.name: c.reject_unsent_fields for c in registry.clients} == {
        "strict": True,
        "lenient": False,
    }
