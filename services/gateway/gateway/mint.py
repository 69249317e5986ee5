"""`python -m gateway.mint`: a new client key, written to a 0600 file, and its clients-file
entry added to the local stack's clients file (`invoke dev` serves it) and printed for a
deployed gateway's. The key itself is never printed: hand the file to the backend's owners.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

from pydantic import ValidationError

from gateway.clients import Client, ClientRegistry, ClientsFileError, clients_file, mint_client

# The local stack's clients file, kept across its restarts: `invoke dev` serves every entry
# in it beside its development client (devstack reads <run dir>/clients.json).
LOCAL_CLIENTS_FILE = Path(".devstack") / "clients.json"


class MintError(Exception):
    """Nothing was written; the message says why."""


def _problems(error: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(map(str, e['loc'])) or 'clients'}: {e['msg']}"
        for e in error.errors(include_input=False)
    )


def with_client(path: Path, client: Client) -> str:
    """The text of the clients file at `path` (none yet: empty) with `client` added."""
    existing: tuple[Client, ...] = ()
    if path.exists():
        try:
            existing = ClientRegistry.load(path).clients
        except ClientsFileError as error:
            raise MintError(str(error)) from None
    if any(c.name == client.name for c in existing):
        raise MintError(f"{path} already has a client named {client.name}; choose another name")
    try:
        return clients_file([*existing, client])
    except ValidationError as error:
        raise MintError(f"{path}: {_problems(error)}") from None


def _write_private(path: Path, text: str) -> None:
    """Replace `path` at once with `text`, mode 0600: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as handle:  # mkstemp creates it 0600
            handle.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _write_key(path: Path, key: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise MintError(f"{path} exists; not overwriting a key") from None
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")


def mint(
    name: str,
    models: tuple[str, ...],
    rpm: int | None,
    tpm: int | None,
    key_file: Path | None,
    local_clients: Path,
    *,
    reject_unsent_fields: bool = False,
) -> tuple[Path, Client]:
    """Mint a key into `key_file` (default .secrets/<name>.key) and add its entry to
    `local_clients`; every check comes first, so a refusal writes nothing."""
    try:
        key, client = mint_client(name, models, rpm, tpm, reject_unsent_fields=reject_unsent_fields)
    except ValidationError as error:
        raise MintError(_problems(error)) from None
    key_file = key_file or Path(".secrets") / f"{client.name}.key"
    if key_file.exists():
        raise MintError(f"{key_file} exists; not overwriting a key")
    text = with_client(local_clients, client)
    _write_key(key_file, key)
    _write_private(local_clients, text)
    return key_file, client


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="invoke mint-client-key", description=__doc__)
    parser.add_argument("--name", required=True, help="the client's name, e.g. search-backend")
    parser.add_argument(
        "--models",
        required=True,
        help="comma-separated models it may use, e.g. claude-sonnet,groq-llama",
    )
    parser.add_argument("--rpm", type=int, default=None, help="requests per minute (no limit)")
    parser.add_argument("--tpm", type=int, default=None, help="tokens per minute (no limit)")
    parser.add_argument(
        "--key-file",
        type=Path,
        default=None,
        help="where to write the key (default: .secrets/<name>.key)",
    )
    parser.add_argument(
        "--clients-file",
        type=Path,
        default=LOCAL_CLIENTS_FILE,
        help=f"the local stack's clients file, to add the entry to (default: {LOCAL_CLIENTS_FILE})",
    )
    parser.add_argument(
        "--reject-unsent-fields",
        action="store_true",
        help="answer 400 naming a field the provider would not get, instead of dropping it "
        "and naming it in x-gateway-dropped-fields",
    )
    args = parser.parse_args(argv)
    models = tuple(m.strip() for m in args.models.split(",") if m.strip())
    try:
        key_file, client = mint(
            args.name, models, args.rpm, args.tpm, args.key_file, args.clients_file,
            reject_unsent_fields=args.reject_unsent_fields,
        )  # fmt: skip
    except MintError as error:
        print(f"mint-client-key: {error}", file=sys.stderr)
        return 2
    print(f"# key written to {key_file} (mode 0600)")
    print(
        f"# entry added to {args.clients_file}: `invoke dev` serves it (a running one restarts "
        "its gateway to do so)"
    )
    print("# for a deployed gateway, add this entry to its clients file (Secret gateway-clients):")
    print(json.dumps(client.model_dump(mode="json", exclude_none=True), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
