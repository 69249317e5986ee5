"""Settings from the command line and the environment.

The accepted API keys come only from the environment, never from arguments (which show up
in process listings), and there is no default: a stand-in that accepted any key would let a
test pass while a proxy forwarded the wrong credential.
"""

import argparse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

ANTHROPIC_KEYS_ENV = "EMULATOR_ANTHROPIC_API_KEYS"
GROQ_KEYS_ENV = "EMULATOR_GROQ_API_KEYS"
HOST_ENV = "EMULATOR_HOST"
PORT_ENV = "EMULATOR_PORT"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8090


class ConfigError(Exception):
    """A setting is missing or invalid; the message is shown as one line, without traceback."""


@dataclass(frozen=True)
class Settings:
    host: str
    port: int
    anthropic_keys: frozenset[str]
    groq_keys: frozenset[str]

    def __repr__(self) -> str:
        # Never print key values, even by accident in a debug message.
        return (
            f"Settings(host={self.host!r}, port={self.port}, "
            f"anthropic_keys=<{len(self.anthropic_keys)}>, groq_keys=<{len(self.groq_keys)}>)"
        )


def _keys(environ: Mapping[str, str], name: str) -> frozenset[str]:
    raw = environ.get(name)
    if raw is None:
        raise ConfigError(f"{name} is not set; refusing to start without accepted API keys")
    keys = frozenset(key.strip() for key in raw.split(",") if key.strip())
    if not keys:
        raise ConfigError(f"{name} holds no keys; refusing to start without accepted API keys")
    return keys


def _port(raw: str, source: str) -> int:
    try:
        port = int(raw)
    except ValueError:
        raise ConfigError(f"{source}={raw!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise ConfigError(f"{source}={port} is outside 0..65535")
    return port


def load_settings(argv: Sequence[str] | None, environ: Mapping[str, str]) -> Settings:
    """Parse ``argv`` (options win over the environment) and read the keys from ``environ``."""
    parser = argparse.ArgumentParser(
        prog="python -m provider_emulator",
        description="Test stand-in for Anthropic's Messages API and Groq's chat completions. "
        f"Accepted keys come from {ANTHROPIC_KEYS_ENV} and {GROQ_KEYS_ENV} (comma-separated).",
    )
    parser.add_argument(
        "--host",
        default=environ.get(HOST_ENV, DEFAULT_HOST),
        help=f"address to bind (env {HOST_ENV}, default {DEFAULT_HOST})",
    )
    parser.add_argument(
        "--port",
        default=None,
        help=f"port to bind (env {PORT_ENV}, default {DEFAULT_PORT})",
    )
    args = parser.parse_args(argv)
    if args.port is not None:
        port = _port(args.port, "--port")
    elif PORT_ENV in environ:
        port = _port(environ[PORT_ENV], PORT_ENV)
    else:
        port = DEFAULT_PORT
    return Settings(
        host=str(args.host),
        port=port,
        anthropic_keys=_keys(environ, ANTHROPIC_KEYS_ENV),
        groq_keys=_keys(environ, GROQ_KEYS_ENV),
    )
