"""`python -m gateway.mint`: a new client key, written to a 0600 file, and its clients-file
entry printed. The key itself is never printed: hand the file to the backend's owners."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from pydantic import ValidationError

from gateway.clients import mint_client


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
    args = parser.parse_args(argv)
    models = tuple(m.strip() for m in args.models.split(",") if m.strip())
    try:
        key, client = mint_client(args.name, models, args.rpm, args.tpm)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
                             for e in error.errors(include_input=False))  # fmt: skip
        print(f"mint-client-key: {problems}", file=sys.stderr)
        return 2
    key_file: Path = args.key_file or Path(".secrets") / f"{client.name}.key"
    key_file.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        print(f"mint-client-key: {key_file} exists; not overwriting a key", file=sys.stderr)
        return 2
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    print(f"# key written to {key_file} (mode 0600); add this entry to the clients file:")
    print(json.dumps(client.model_dump(mode="json"), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
