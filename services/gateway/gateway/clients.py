"""Who may call the gateway: clients, the SHA-256 of their keys, their models and limits.

The file is mounted from a Secret; it holds only key hashes, so reading it reveals no key.
A presented key is hashed and compared with every client's hash in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

KEY_PREFIX = "sk-gw-"
_HEX = frozenset("0123456789abcdef")


class ClientsFileError(ValueError):
    """The clients file is missing or invalid; the message says where."""


class Client(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9._-]*$")
    key_sha256: str = Field(min_length=64, max_length=64)
    models: tuple[str, ...] = Field(min_length=1)
    requests_per_minute: int | None = Field(default=None, gt=0)
    tokens_per_minute: int | None = Field(default=None, gt=0)
    # A request with a field that would not reach the provider (not part of the API, or one
    # LiteLLM drops for this model: gateway/unsent_fields.py) is refused with a 400 naming
    # it, instead of being served without it (and the field named in
    # x-gateway-dropped-fields).
    reject_unsent_fields: bool = False

    @field_validator("key_sha256")
    @classmethod
    def _lower_hex(cls, value: str) -> str:
        if not set(value) <= _HEX:
            raise ValueError("must be 64 lowercase hex characters (sha256 of the key)")
        return value

    def may_use(self, model: str) -> bool:
        return model in self.models


class ClientsFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    clients: tuple[Client, ...]

    @model_validator(mode="after")
    def _unique(self) -> ClientsFile:
        for attribute in ("name", "key_sha256"):
            values = [getattr(client, attribute) for client in self.clients]
            duplicates = sorted({v for v in values if values.count(v) > 1})
            if duplicates:
                shown = duplicates if attribute == "name" else ["(a key hash)"]
                raise ValueError(f"duplicate {attribute}: {', '.join(shown)}")
        return self


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def client_for_key(
    name: str,
    key: str,
    models: Iterable[str],
    requests_per_minute: int | None = None,
    tokens_per_minute: int | None = None,
    *,
    reject_unsent_fields: bool = False,
) -> Client:
    """The clients-file entry that admits `key` (only its hash is kept), validated: the one
    way every producer of a clients file (mint, the deploy engine, devstack) makes one."""
    return Client(
        name=name,
        key_sha256=hash_key(key),
        models=tuple(models),
        requests_per_minute=requests_per_minute,
        tokens_per_minute=tokens_per_minute,
        reject_unsent_fields=reject_unsent_fields,
    )


def clients_file(clients: Iterable[Client]) -> str:
    """The clients file's text, as the gateway reads it (what is left at its default, such as
    an unset limit, left out)."""
    document = ClientsFile(clients=tuple(clients))
    return document.model_dump_json(indent=2, exclude_defaults=True) + "\n"


class ClientRegistry:
    def __init__(self, clients: tuple[Client, ...]) -> None:
        self.clients = clients
        self._digests = [(bytes.fromhex(c.key_sha256), c) for c in clients]

    @classmethod
    def load(cls, path: Path) -> ClientRegistry:
        try:
            raw = path.read_bytes()
        except OSError as error:
            raise ClientsFileError(f"cannot read clients file {path}: {error.strerror}") from None
        try:
            parsed = ClientsFile.model_validate_json(raw)
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or '(file)'}: {e['msg']}"
                for e in error.errors(include_input=False)
            )
            raise ClientsFileError(f"invalid clients file {path}: {problems}") from None
        return cls(parsed.clients)

    def authenticate(self, presented_key: str) -> Client | None:
        """The client whose key this is, or None. Every hash is compared, in constant time."""
        digest = hashlib.sha256(presented_key.encode()).digest()
        found: Client | None = None
        for expected, client in self._digests:
            if hmac.compare_digest(digest, expected):
                found = client
        return found


def mint_client(
    name: str,
    models: tuple[str, ...],
    requests_per_minute: int | None = None,
    tokens_per_minute: int | None = None,
    *,
    reject_unsent_fields: bool = False,
) -> tuple[str, Client]:
    """A new random key (256 bits) and the clients-file entry that admits it."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    client = client_for_key(
        name, key, models, requests_per_minute, tokens_per_minute,
        reject_unsent_fields=reject_unsent_fields,
    )  # fmt: skip
    return key, client
